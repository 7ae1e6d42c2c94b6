//! Tokens counted by estimate when a server reports no usage (llama.cpp-based
//! servers, some vLLM and proxy setups). About four bytes of English or JSON
//! make one token for the common BPE vocabularies; a tokenizer would be exact
//! only for the one model family it ships tables for, and the servers that omit
//! usage run other families, so the estimate is stated as such everywhere.

/// Bytes per token assumed by the estimate.
pub const BYTES_PER_TOKEN: usize = 4;

/// The estimated tokens of `bytes` bytes of text, rounded up.
pub fn tokens(bytes: usize) -> u64 {
    bytes.div_ceil(BYTES_PER_TOKEN) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_bytes_make_a_token_rounded_up() {
        assert_eq!(tokens(0), 0);
        assert_eq!(tokens(1), 1);
        assert_eq!(tokens(8), 2);
        assert_eq!(tokens(9), 3);
    }
}
