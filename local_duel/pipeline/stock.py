"""The stock lines that stand in when no draft is fit to speak after every attempt:
clean under any rating, and used least-first."""

FALLBACK_LINES = [
    "Well, I'll let that speak for itself.",
    "Hmm. You really know how to keep a conversation going.",
    "I'm speechless, and that doesn't happen often.",
    "Let's just say I've heard better.",
    "Fascinating. Truly. Go on.",
    "You know what? Touché.",
    "I'm going to pretend you didn't say that.",
    "Bold of you to say that out loud.",
]
