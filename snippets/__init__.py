"""Code behind the Executable ML Notes chapters: one module per chapter, each standalone."""
