//! The exporters' HTTP: JSON POSTs with one timeout, and the URL check for
//! where they go. (Sources read through `sources::http`, which only GETs.)

use std::time::Duration;

/// An `http` or `https` URL, or what is wrong with it, said of `what`.
pub(crate) fn http_url(what: &str, url: &str) -> Result<reqwest::Url, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{what} {url}: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("{what} {url}: expected an http or https URL"));
    }
    Ok(parsed)
}

/// The exporters' HTTP client: one timeout for the whole request.
pub(crate) struct Poster {
    client: reqwest::Client,
    timeout: Duration,
}

impl Poster {
    pub(crate) fn new(timeout: Duration) -> Result<Poster, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("inquest/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Poster { client, timeout })
    }

    /// POSTs a JSON body; a non-2xx answer is an error naming the URL and quoting the answer, escaped.
    pub(crate) async fn post_json<K: AsRef<str>, V: AsRef<str>>(
        &self,
        url: &str,
        headers: &[(K, V)],
        body: String,
    ) -> Result<String, String> {
        let mut req = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .body(body);
        for (k, v) in headers {
            req = req.header(k.as_ref(), v.as_ref());
        }
        let resp = req.send().await.map_err(|e| {
            if e.is_timeout() {
                format!("{url}: timed out after {} s", self.timeout.as_secs())
            } else {
                format!("{url}: unreachable: {e}")
            }
        })?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        if !(200..300).contains(&status) {
            let head: String = text.chars().take(300).collect();
            return Err(format!(
                "{url}: HTTP {status}: {}",
                crate::tools::sanitize::clean(&head)
            ));
        }
        Ok(text)
    }
}
