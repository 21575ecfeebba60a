"""Prompt templates: rendering (sandboxed, StrictUndefined) and the files that ship with codeclm."""
