//! The `[llm]` section of config.toml made into a model configuration, the key
//! read from the environment or the keyring.

use crate::config::LlmSettings;
use crate::config::secrets;

impl LlmSettings {
    /// The model's configuration, the key read from the environment.
    pub fn config(&self) -> Result<crate::reason::llm::LlmConfig, String> {
        let (default_url, default_env) = match self.provider.as_str() {
            "openai" => ("https://api.openai.com/v1", "OPENAI_API_KEY"),
            "anthropic" => ("https://api.anthropic.com", "ANTHROPIC_API_KEY"),
            other => {
                return Err(format!(
                    "[llm] provider {other:?}: expected \"openai\" or \"anthropic\""
                ));
            }
        };
        let env = self.api_key_env.as_deref().unwrap_or(default_env);
        let api_key = secrets::api_key(&self.provider, env)?;
        let base_url = self.base_url.clone().unwrap_or_else(|| default_url.to_string());
        // A local server (Ollama, vLLM) needs no key; a public API does.
        let local =
            base_url.contains("://127.0.0.1") || base_url.contains("://localhost") || base_url.contains("://[::1]");
        if api_key.is_none() && !local && self.base_url.is_none() {
            return Err(format!(
                "[llm]: no API key: set the environment variable {env}, or store one with `inquest auth set {}`",
                self.provider
            ));
        }
        let timeout = match &self.timeout {
            Some(t) => crate::model::parse_duration_ms(t).map_err(|e| format!("[llm] timeout: {e}"))?,
            None => 120_000,
        };
        Ok(crate::reason::llm::LlmConfig {
            provider: self.provider.clone(),
            base_url,
            model: self.model.clone(),
            api_key,
            timeout: std::time::Duration::from_millis(timeout.max(1) as u64),
            max_turns: self.max_turns.unwrap_or(12),
            max_tool_chars: self.max_tool_chars.unwrap_or(12_000),
            price_per_mtok: (
                self.price_input_per_mtok.unwrap_or(0.0),
                self.price_output_per_mtok.unwrap_or(0.0),
            ),
            strategy_models: self.strategies.clone(),
            text_tool_calls: self.text_tool_calls.unwrap_or(false),
            max_output_tokens: self.max_output_tokens,
            temperature: self.temperature,
        })
    }
}
