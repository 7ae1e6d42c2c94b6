//! `inquest auth set`: an API key into the OS keyring, read without echo.

use std::io::Write;
use std::process::ExitCode;

use super::Failure;

pub(super) fn auth_set(provider: &str) -> Result<ExitCode, Failure> {
    use std::io::{BufRead, IsTerminal};
    let env = match provider {
        "openai" => "OPENAI_API_KEY",
        "anthropic" => "ANTHROPIC_API_KEY",
        other => {
            return Err(Failure::BadInput(format!(
                "auth set {other}: expected openai or anthropic"
            )));
        }
    };
    let stdin = std::io::stdin();
    let key = if stdin.is_terminal() {
        eprint!("{provider} API key (not shown): ");
        let _ = std::io::stderr().flush();
        // Without echo, so the key stays off the screen and out of scrollback.
        crossterm::terminal::enable_raw_mode().map_err(|e| Failure::Other(e.to_string()))?;
        let mut key = String::new();
        let read = (|| -> std::io::Result<()> {
            loop {
                if let crossterm::event::Event::Key(k) = crossterm::event::read()? {
                    match k.code {
                        crossterm::event::KeyCode::Enter => return Ok(()),
                        crossterm::event::KeyCode::Char('c')
                            if k.modifiers.contains(crossterm::event::KeyModifiers::CONTROL) =>
                        {
                            return Err(std::io::Error::other("cancelled"));
                        }
                        crossterm::event::KeyCode::Char(c) => key.push(c),
                        crossterm::event::KeyCode::Backspace => {
                            key.pop();
                        }
                        _ => {}
                    }
                }
            }
        })();
        let _ = crossterm::terminal::disable_raw_mode();
        eprintln!();
        read.map_err(|e| Failure::Other(e.to_string()))?;
        key
    } else {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| Failure::Other(e.to_string()))?;
        line
    };
    let key = key.trim();
    if key.is_empty() {
        return Err(Failure::BadInput("no key given".into()));
    }
    crate::config::secrets::store(provider, key, env).map_err(Failure::Other)?;
    eprintln!("inquest: the {provider} key is in the keyring; {env} still wins when it is set");
    Ok(ExitCode::SUCCESS)
}
