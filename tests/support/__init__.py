"""Helpers the tests share: one place, instead of test modules importing each other."""
