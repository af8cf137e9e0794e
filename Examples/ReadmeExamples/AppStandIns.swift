import TokenCache

// What the README's examples leave to the app. They do nothing here.

/// Sends a request with the access token.
func use(_ accessToken: String) {}

/// Refreshes the token, and uses `token` if the refresh fails.
func refresh(orFallBackTo token: AccessToken) {}

/// Starts an interactive sign-in.
func signIn() {}
