//! Idempotent commands: every command that changes money (refunds, adjustments, dispute
//! actions, period closes) may carry the client's idempotency key. The same key with the
//! same payload answers the first answer again and applies nothing; with another payload it
//! is [`EngineError::IdempotencyConflict`]. The answer is stored in `command_results` in the
//! transaction of the command's effect, so an answer exists exactly when the effect does.
//! Keys belong to the tenant ([`Command::scope_of`]): two programs, or two partners, may use
//! the same key without meeting. Only successes are stored: a command that failed changed
//! nothing, and a retry runs it again.

use super::{Engine, EngineError, Result, Scope};
use crate::plugins::InputHasher;
use crate::store::CommandRecord;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// One keyed command, ready to be looked up or recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Command {
    scope: String,
    operation: &'static str,
    key: String,
    payload_hash: String,
}

impl Command {
    /// A command `operation` of `program_id` by `caller` under the client's `key`, whose
    /// payload hashes to `payload`.
    pub(super) fn new(
        program_id: &str,
        caller: &Scope,
        operation: &'static str,
        key: String,
        payload: InputHasher,
    ) -> Self {
        Self {
            scope: Self::scope_of(program_id, caller),
            operation,
            key,
            payload_hash: hex::encode(payload.finish()),
        }
    }

    /// The tenant a key belongs to: the program, and within it the partner for a
    /// partner's key, so that one partner can neither collide with another's key nor read
    /// its answer.
    fn scope_of(program_id: &str, caller: &Scope) -> String {
        match caller {
            Scope::Admin => format!("program:{program_id}"),
            Scope::Partner(p) => format!("program:{program_id}/partner:{p}"),
            Scope::PluginAuthor(_) => format!("program:{program_id}/author"),
        }
    }

    /// The record to write with the effect, holding `answer`.
    pub(super) fn record<T: Serialize>(&self, answer: &T) -> Result<CommandRecord> {
        Ok(CommandRecord {
            scope: self.scope.clone(),
            operation: self.operation.to_owned(),
            key: self.key.clone(),
            payload_hash: self.payload_hash.clone(),
            answer: serde_json::to_string(answer)
                .map_err(|e| EngineError::Internal(format!("answer of {}: {e}", self.operation)))?,
        })
    }
}

/// The record for `answer` if the command is keyed.
pub(super) fn record<T: Serialize>(
    cmd: Option<&Command>,
    answer: &T,
) -> Result<Option<CommandRecord>> {
    cmd.map(|c| c.record(answer)).transpose()
}

impl Engine {
    /// The answer already given to this command, if its key was used: `None` for a new
    /// key (or no key), an error if the key was used with another payload.
    pub(super) async fn answered<T: DeserializeOwned>(
        &self,
        cmd: Option<&Command>,
    ) -> Result<Option<T>> {
        let Some(cmd) = cmd else {
            return Ok(None);
        };
        let Some(stored) = self
            .store
            .command_result(&cmd.scope, cmd.operation, &cmd.key)
            .await?
        else {
            return Ok(None);
        };
        if stored.payload_hash != cmd.payload_hash {
            return Err(EngineError::IdempotencyConflict(format!(
                "idempotency key {:?}",
                cmd.key
            )));
        }
        serde_json::from_str(&stored.answer).map(Some).map_err(|e| {
            EngineError::Internal(format!(
                "stored answer of {} {:?}: {e}",
                cmd.operation, cmd.key
            ))
        })
    }
}

impl Engine {
    /// Run `step` under the client's key: a key used before answers its stored answer
    /// (or is a conflict with another payload); a new one runs the step and stores what it
    /// answered. For steps whose effect is its own transaction in the store (a payout run's
    /// approval, export, cancellation), the answer is stored just after it; when a retry
    /// finds the step refused as done already ([`EngineError::Conflict`]) and no answer
    /// stored (the first attempt's answer was lost, or the service stopped in between),
    /// `done` says whether the step's effect is there, and gives the answer to store then.
    pub(super) async fn keyed<T, S>(
        &self,
        cmd: Option<Command>,
        step: S,
        done: impl AsyncFnOnce() -> Result<Option<T>>,
    ) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
        S: std::future::Future<Output = Result<T>>,
    {
        if let Some(answer) = self.answered(cmd.as_ref()).await? {
            return Ok(answer);
        }
        let answer = match step.await {
            Ok(answer) => answer,
            Err(EngineError::Conflict(why)) if cmd.is_some() => match done().await? {
                Some(answer) => answer,
                None => return Err(EngineError::Conflict(why)),
            },
            Err(e) => return Err(e),
        };
        let Some(cmd) = cmd else {
            return Ok(answer);
        };
        match self.store.put_command_result(&cmd.record(&answer)?).await {
            Ok(()) => Ok(answer),
            // A concurrent retry stored its answer first: answer that one.
            Err(crate::store::StoreError::Conflict(_)) => self
                .answered(Some(&cmd))
                .await?
                .ok_or_else(|| EngineError::Internal("a command result vanished".into())),
            Err(e) => Err(e.into()),
        }
    }
}
