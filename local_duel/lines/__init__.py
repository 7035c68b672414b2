"""Writing a line: the shared screenplay, what the engine is asked, its candidates, the
ranker and the editor that pick and clean one, and turn-taking."""
