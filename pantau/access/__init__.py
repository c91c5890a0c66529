"""Who may do what: API tokens, sign-in sessions, and keeping secrets out of what leaves a process."""
