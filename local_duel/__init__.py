"""Local Duel: two local AI agents hold a spoken duel, fully offline."""
