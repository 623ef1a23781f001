"""The web console served under ``/ui/``."""
