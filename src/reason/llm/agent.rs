//! One branch's conversation with the model: the brief (rules, strategy,
//! know-how, the alert and, for the hybrid, the statistical board), then turns
//! until the model stops. A turn that ends with neither a tool call nor a
//! proposal is nudged once; a second such turn ends the branch saying so.
//! A stream that breaks is asked again once; a refused request feature is the
//! provider's business and is reported here once, as a thought.

use std::sync::Mutex;

use serde_json::Value;

use super::provider::{LlmError, Msg, Provider, ToolCall, ToolDef, Turn};
use super::{Llm, RULES, hypothesis, propose_tool, textcalls};
use crate::model::SpanId;
use crate::reason::{BranchCtx, BranchEnd};
use crate::tools::render;

/// What the model is told at the start of a branch.
pub(crate) struct Brief {
    pub system: String,
    pub opening: String,
    pub tools: Vec<ToolDef>,
}

/// How a conversation ended.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Outcome {
    /// Root causes the model proposed.
    pub proposed: usize,
    /// Tool calls the model asked for (proposals excluded).
    pub calls: usize,
}

pub(crate) const NUDGE: &str = "You answered without calling a tool or proposing a cause. Call one of the tools to check \
what you suspect, or call propose_root_cause with what the evidence supports. Answer with a tool call.";

/// Said when a branch ends with nothing from the model.
pub(crate) const NOTHING: &str = "The model answered without calling a tool or proposing a cause";

impl Llm {
    /// The system prompt, opening message and tools of `ctx`'s branch; `board` is
    /// what the statistical analysis found, for the model to check (the hybrid).
    pub(crate) fn brief(&self, ctx: &BranchCtx, board: Option<&str>) -> Brief {
        let catalog = ctx.guard().catalog().clone();
        let skills: Vec<_> = catalog
            .skills
            .iter()
            .filter(|s| ctx.strategy.skills.contains(&s.name))
            .collect();
        let mut tools: Vec<ToolDef> = skills
            .iter()
            .flat_map(|s| s.tools.iter())
            .map(|t| ToolDef {
                name: t.name.clone(),
                description: t.description.clone(),
                parameters: t.args.clone(),
            })
            .collect();
        tools.push(propose_tool());
        let know_how: Vec<String> = skills
            .iter()
            .map(|s| format!("## {}\n{}", s.name, s.know_how.trim()))
            .collect();
        let system = format!(
            "{RULES}\n\n# Strategy: {}\n{}\n\n# Know-how\n{}",
            ctx.strategy.title,
            ctx.strategy.prompt.trim(),
            know_how.join("\n\n")
        );
        let alert = &ctx.alert;
        let mut opening = format!(
            "Alert {} on {} (severity {}), firing since {}. Investigate as of {}.\nLabels: {}\nAnnotations: {}",
            alert.name,
            alert.service().unwrap_or("?"),
            alert.severity,
            alert.starts_at.to_rfc3339(),
            ctx.now.to_rfc3339(),
            serde_json::to_string(&alert.labels).unwrap_or_default(),
            serde_json::to_string(&alert.annotations).unwrap_or_default()
        );
        if let Some(board) = board {
            opening.push_str("\n\n");
            opening.push_str(board);
        }
        Brief {
            system,
            opening: self.redactor.redact(&opening),
            tools,
        }
    }

    /// Runs the conversation to its end.
    pub(crate) async fn converse(&self, ctx: &BranchCtx, brief: &Brief) -> Result<Outcome, BranchEnd> {
        let provider = self
            .by_strategy
            .get(&ctx.strategy.name)
            .unwrap_or(&self.provider)
            .as_ref();
        let known: Vec<&str> = brief.tools.iter().map(|t| t.name.as_str()).collect();
        let mut msgs = vec![Msg::User(brief.opening.clone())];
        let mut guidance_seen = 0;
        let mut out = Outcome::default();
        let mut nudged = false;
        for _ in 0..self.max_turns {
            ctx.checkpoint().await?;
            let guidance = ctx.guidance();
            if guidance.len() > guidance_seen {
                let new = guidance[guidance_seen..].join("\n");
                msgs.push(Msg::User(format!(
                    "[guidance from the on-call engineer]\n{}",
                    self.redactor.redact(&new)
                )));
                guidance_seen = guidance.len();
            }
            let mut turn = self.ask(ctx, provider, &brief.system, &msgs, &brief.tools).await?;
            if turn.calls.is_empty() && self.text_tool_calls {
                turn.calls = textcalls::parse(&turn.text, &known);
                if !turn.calls.is_empty() {
                    ctx.think(format!("Read {} tool call(s) from the model's text.", turn.calls.len()));
                }
            }
            msgs.push(Msg::Assistant {
                text: turn.text.clone(),
                calls: turn.calls.clone(),
            });
            if turn.calls.is_empty() {
                if out.proposed > 0 {
                    return Ok(out);
                }
                if !nudged {
                    nudged = true;
                    ctx.think(format!("{NOTHING}; asking it once more to use its tools."));
                    msgs.push(Msg::User(NUDGE.into()));
                    continue;
                }
                ctx.think(format!(
                    "{NOTHING}, even when asked again: this branch ends with nothing to propose."
                ));
                return Ok(out);
            }
            self.answer(ctx, &turn.calls, &mut msgs, &mut out).await?;
        }
        ctx.think("Stopping: the turn limit for this branch is reached.");
        Ok(out)
    }

    /// One model turn, streamed into a thought and counted against the budget;
    /// a broken stream is asked again once.
    async fn ask(
        &self,
        ctx: &BranchCtx,
        provider: &dyn Provider,
        system: &str,
        msgs: &[Msg],
        tools: &[ToolDef],
    ) -> Result<Turn, BranchEnd> {
        let mut retried = false;
        loop {
            let thought: Mutex<Option<SpanId>> = Mutex::new(None);
            let on_text = |t: &str| {
                if let Ok(mut span) = thought.lock() {
                    match *span {
                        Some(s) => ctx.think_more(s, t),
                        None => *span = Some(ctx.think(t)),
                    }
                }
            };
            match provider.turn(system, msgs, tools, &on_text).await {
                Ok(turn) => {
                    for note in &turn.degraded {
                        ctx.think(format!("Compatibility: {note}."));
                    }
                    // A price per million tokens is a cost in millionths of a dollar per token.
                    let cost = turn.input_tokens as f64 * self.price_per_mtok.0
                        + turn.output_tokens as f64 * self.price_per_mtok.1;
                    ctx.add_usage(
                        turn.input_tokens + turn.output_tokens,
                        cost.round().max(0.0) as u64,
                        turn.estimated,
                    )?;
                    return Ok(turn);
                }
                Err(e @ LlmError::Broken { .. }) if !retried => {
                    retried = true;
                    ctx.think(format!("The model's answer broke off ({e}); asking once more."));
                }
                Err(e) => return Err(BranchEnd::Failed(format!("the model failed: {e}"))),
            }
        }
    }

    /// Carries out the model's calls and puts their results in the conversation.
    async fn answer(
        &self,
        ctx: &BranchCtx,
        calls: &[ToolCall],
        msgs: &mut Vec<Msg>,
        out: &mut Outcome,
    ) -> Result<(), BranchEnd> {
        for call in calls {
            let args: Value = match serde_json::from_str(&call.arguments) {
                Ok(v @ Value::Object(_)) => v,
                Ok(_) | Err(_) => {
                    let reason = format!(
                        "the arguments for {} are not a JSON object; send an object matching its schema",
                        call.name
                    );
                    ctx.refused(&call.name, Value::String(call.arguments.clone()), reason.clone());
                    msgs.push(Msg::Tool {
                        id: call.id.clone(),
                        content: format!("error: {reason}"),
                        is_error: true,
                    });
                    continue;
                }
            };
            if call.name == "propose_root_cause" {
                let content = match hypothesis(&args) {
                    Ok(h) => {
                        ctx.propose(h).await?;
                        out.proposed += 1;
                        "recorded".to_string()
                    }
                    Err(e) => {
                        ctx.refused(&call.name, args.clone(), e.to_string());
                        format!("error: {e}")
                    }
                };
                msgs.push(Msg::Tool {
                    id: call.id.clone(),
                    content,
                    is_error: false,
                });
                continue;
            }
            out.calls += 1;
            let (content, is_error) = match ctx.try_call(&call.name, args).await? {
                Ok(c) => (self.tool_output(&render::evidence(&c.data).body), false),
                Err(e) => (format!("error: {}", self.redactor.redact(&e)), true),
            };
            msgs.push(Msg::Tool {
                id: call.id.clone(),
                content,
                is_error,
            });
        }
        Ok(())
    }
}
