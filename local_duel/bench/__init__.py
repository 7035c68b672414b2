"""`local-duel bench`: timing, line quality and scale, measured through the real app by
listen-only clients on the page's wire format."""
