"""Code behind the Executable ML Notes chapters: one module per chapter, and the input
checks they share (snippets.checks)."""
