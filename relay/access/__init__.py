"""Who may call the relay: sign-in, client addresses, rate limits, token attempts."""
