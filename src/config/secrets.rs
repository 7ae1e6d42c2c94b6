//! API keys: from the environment first, then the OS keyring; never from a
//! file in clear, never into the store, the logs or an export.

const SERVICE: &str = "inquest";

/// The key for `provider` (`openai`, `anthropic`): the environment variable
/// first, then the keyring. `Ok(None)` when neither has one.
pub fn api_key(provider: &str, env: &str) -> Result<Option<String>, String> {
    if let Ok(k) = std::env::var(env)
        && !k.trim().is_empty()
    {
        return Ok(Some(k.trim().to_string()));
    }
    match keyring::Entry::new(SERVICE, provider).and_then(|e| e.get_password()) {
        Ok(k) => Ok(Some(k)),
        Err(keyring::Error::NoEntry) => Ok(None),
        // No keyring here (a container, a plain SSH session): the environment it is.
        Err(_) => Ok(None),
    }
}

/// Stores `key` for `provider` in the OS keyring.
pub fn store(provider: &str, key: &str, env: &str) -> Result<(), String> {
    let entry = keyring::Entry::new(SERVICE, provider).map_err(|e| no_keyring(e, env))?;
    entry.set_password(key).map_err(|e| no_keyring(e, env))?;
    // Read it back: a keyring that accepts and forgets is no keyring.
    match entry.get_password() {
        Ok(k) if k == key => Ok(()),
        Ok(_) => Err("the keyring returned another key than the one stored".into()),
        Err(e) => Err(no_keyring(e, env)),
    }
}

fn no_keyring(e: keyring::Error, env: &str) -> String {
    format!("no usable keyring here ({e}); set the environment variable {env} instead")
}
