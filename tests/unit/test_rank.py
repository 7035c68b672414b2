"""Sample and rank on hand-made drafts: the line worth speaking wins, unfit ones never do."""

from local_duel.pipeline.rank import Scene, best, fit, score

NAMES = ["Max", "Ava"]


def scene(rating="family", said=("Max: placeholder",), move="teasing Max about his code", direction="They flirt."):
    return Scene(
        NAMES, "pineapple on pizza", "a quick-witted stand-up comedian", move, direction,
        list(said), rating,
    )


SAID = ["Pineapple belongs on every pizza, it is sweet and brave.", "Spoken like a man who codes in the dark."]


def test_on_topic_in_character_beats_a_generic_retort():
    drafts = ["I don't care.", "Yeah, it's true.", "My comedy has better timing than your pineapple pizza opinions."]
    assert best(drafts, scene(said=SAID)) == drafts[2]


def test_topic_counts_more_than_length():
    on_topic = "Pineapple? Gross."
    off_topic = "You remind me of a very long and boring tax form somebody forgot."
    assert score(on_topic, scene(said=SAID)) > score(off_topic, scene(said=SAID))


def test_echo_of_the_topic_or_an_earlier_line_is_never_spoken():
    assert fit("Pineapple on pizza!", scene(said=SAID)) is None
    assert fit("Pineapple belongs on every pizza, it is sweet.", scene(said=SAID)) is None
    assert fit("Pineapple on pizza is a crime against Naples.", scene(said=SAID)) is not None


def test_family_refuses_profanity_and_adult_lets_it_through():
    line = "This fucking pizza has pineapple on it and I love the chaos."
    assert fit(line, scene("family", SAID)) is None
    assert fit(line, scene("adult", SAID)) == line
    assert best([line, "Nice shirt."], scene("family", SAID)) == "Nice shirt."


def test_mojibake_is_never_spoken_and_real_unicode_is():
    assert fit("Â œYou really think he's funny ?", scene(said=SAID)) is None
    assert fit("â€œPineapple is a fruit, not a topping.â€\x9d", scene(said=SAID)) is None
    for line in ["Zoë, ça va? Crème brûlée beats pineapple.", "Ōtani and Ævar say naïve things about pizza.", "さくら は ピザ が 好き です よ。"]:
        assert fit(line, scene(said=SAID)) is not None, line
    assert best(["Â œYou really think he's funny ?", "Nice shirt."], scene(said=SAID)) == "Nice shirt."


def test_no_fit_candidate_means_none():
    assert best(["", "Max:", "Pineapple on pizza.", "Sh1t."], scene(said=SAID)) is None


def test_earliest_of_equals_wins():
    assert best(["Nice shirt, really.", "Nice shoes, really."], scene(said=SAID)) == "Nice shirt, really."


def test_novelty_beats_repeating_what_was_said():
    stale = "Pineapple is sweet and brave, like I said before."
    fresh = "Pineapple is a tropical war crime against mozzarella."
    assert score(fresh, scene(said=SAID)) > score(stale, scene(said=SAID))


def test_following_the_move_or_the_stage_direction_counts():
    plain = "Your shoes squeak, but you walk well."
    flirty = "Your shoes squeak, but you flirt well."
    teasing = "Your shoes squeak, like your old code."
    assert score(flirty, scene(said=SAID)) > score(plain, scene(said=SAID))
    assert score(teasing, scene(said=SAID)) > score(plain, scene(said=SAID))


def test_naming_the_topic_once_beats_a_keyword_list_of_it():
    stuffed = "Pineapple pizza? Pizza with pineapple is my pizza, comedian to comedian."
    once = "Pineapple is a tropical crime, and my comedy says so every night."
    assert score(once, scene(said=SAID)) > score(stuffed, scene(said=SAID))
    assert best([stuffed, once], scene(said=SAID)) == once


def test_mojibake_is_caught_before_its_control_characters_become_spaces():
    line = "How do we know if there isn’t a toaster in your house?"
    for mangled in [line.encode().decode("latin-1"), line.encode().decode("cp1252")]:  # "isnâ\x80\x99t", "isnâ€™t"
        assert fit(mangled, scene(said=SAID)) is None, mangled
    assert fit(line, scene(said=SAID)) == line


def test_three_words_of_the_persona_or_of_a_name_an_earlier_line_made_up_earn_nothing():
    borrowed = "A quick-witted stand-up comedian knows pineapple is a crime."
    own = "My stand-up set has a whole bit about pineapple crimes."
    assert score(own, scene(said=SAID)) > score(borrowed, scene(said=SAID))
    said = [*SAID, "Says Professor Zoe Sarnatzki, the pizza philosopher."]
    again = "Professor Zoe Sarnatzki would put pineapple on your code."
    fresh = "Your pineapple opinions would crash any code review."
    assert best([again, fresh], scene(said=said)) == fresh


def test_a_word_limit_in_the_move_or_the_direction_wins_over_a_longer_line():
    limited = scene(said=SAID, move="objecting, in three words or fewer")
    long = "Objection, your honour, pineapple on pizza is a crime against every Italian grandmother."
    short = "Objection, pineapple crimes."
    assert best([long, short], limited) == short
    assert best([long, short], scene(said=SAID)) == long
    # Two sentences, the first inside the limit: the first is kept
    assert fit("Guilty as charged. And the jury agrees with me completely.", limited) == "Guilty as charged."
    assert fit("Guilty as charged. And the jury agrees with me completely.", scene(said=SAID)).endswith("completely.")
