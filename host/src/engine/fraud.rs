//! Fraud alerts: raised by the analytics job as it takes new conversions and refunds in
//! (`store::fraud::judge`, by the program's rules: `domain::fraud`), listed and resolved
//! by admins; with the program's `freeze`, an alert about a conversion freezes its
//! commissions through a dispute, which the alert's resolution upholds (confirmed) or
//! rejects (dismissed). Also the program's rules and a partner's own identity as a
//! customer (for the self-referral rule).

use super::{DisputeOutcome, Engine, EngineError, OpenDispute, Result, Scope};
use crate::domain::fraud::FraudConfig;
use crate::store::StoreError;
use crate::store::fraud::AlertRecord;

/// How an admin resolves an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertOutcome {
    /// It is fraud: a frozen conversion's commissions are reversed.
    Confirmed,
    /// It is not: they are released.
    Dismissed,
}

impl AlertOutcome {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirmed => "confirmed",
            Self::Dismissed => "dismissed",
        }
    }
}

fn admin_only(scope: &Scope, what: &str) -> Result<()> {
    if *scope == Scope::Admin {
        Ok(())
    } else {
        Err(EngineError::Forbidden(format!("{what} are for admins")))
    }
}

impl Engine {
    async fn known_program(&self, program_id: &str) -> Result<()> {
        match self.program(program_id).await {
            Ok(_) => Ok(()),
            Err(EngineError::UnknownProgram(p)) => {
                Err(EngineError::NotFound(format!("program {p:?}")))
            }
            Err(e) => Err(e),
        }
    }

    /// A program's alerts, newest first (admin).
    #[allow(clippy::too_many_arguments)]
    pub async fn fraud_alerts(
        &self,
        scope: &Scope,
        program_id: &str,
        status: Option<&str>,
        rule: Option<&str>,
        partner_id: Option<&str>,
        before: Option<(i64, String)>,
        limit: i64,
    ) -> Result<Vec<AlertRecord>> {
        admin_only(scope, "fraud alerts")?;
        self.known_program(program_id).await?;
        Ok(self
            .store
            .fraud_alerts(program_id, status, rule, partner_id, before, limit)
            .await?)
    }

    /// One alert (admin).
    pub async fn fraud_alert(&self, scope: &Scope, id: &str) -> Result<AlertRecord> {
        admin_only(scope, "fraud alerts")?;
        self.store
            .fraud_alert(id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("fraud alert {id:?}")))
    }

    /// Resolve an alert (admin): record the outcome, and uphold or reject the dispute that
    /// froze its conversion, if one did. Asking again with the same outcome answers the
    /// alert as it is; another outcome is a conflict.
    pub async fn resolve_fraud_alert(
        &self,
        scope: &Scope,
        id: &str,
        outcome: AlertOutcome,
        actor: &str,
        note: &str,
    ) -> Result<AlertRecord> {
        // Known, and the caller may see it.
        self.fraud_alert(scope, id).await?;
        match self
            .store
            .resolve_alert(id, outcome.as_str(), actor, note)
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                let now = self.fraud_alert(scope, id).await?;
                if now.resolution.as_ref().map(|r| r.0.as_str()) != Some(outcome.as_str()) {
                    return Err(EngineError::Conflict(format!(
                        "fraud alert {id} is resolved already, as {}",
                        now.resolution.map(|r| r.0).unwrap_or_default()
                    )));
                }
            }
            Err(e) => return Err(e.into()),
        }
        // The dispute is resolved as the alert was (by whom, why), so that a retry asks
        // the same of it.
        let alert = self.fraud_alert(scope, id).await?;
        let (actor, note) = alert
            .resolution
            .as_ref()
            .map(|r| (r.1.clone(), r.2.clone()))
            .unwrap_or_else(|| (actor.to_owned(), note.to_owned()));
        let (actor, note) = (actor.as_str(), note.as_str());
        // An empty link: the sweep found nothing to freeze.
        if let Some(dispute) = alert.dispute_id.as_ref().filter(|d| !d.is_empty()) {
            let decision = match outcome {
                AlertOutcome::Confirmed => DisputeOutcome::Upheld,
                AlertOutcome::Dismissed => DisputeOutcome::Rejected,
            };
            let key = format!("fraud-alert:{id}");
            match self
                .resolve_dispute(dispute, decision, actor, note, Some(&key))
                .await
            {
                // Resolved already through the disputes API: that decision stands.
                Ok(_) | Err(EngineError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        self.fraud_alert(scope, id).await
    }

    /// Freeze the conversions of new alerts in programs that say so: a dispute each (of
    /// the alert's partner's entries, or of every partner's for an alert about no one
    /// partner), keyed by the alert so a retry opens none twice. Returns how many.
    pub async fn freeze_alerted(&self) -> Result<usize> {
        let mut done = 0;
        for a in self.store.alerts_to_freeze(100).await? {
            let Some(conversion) = &a.conversion_id else {
                continue;
            };
            let scope = match (&a.rule[..], &a.partner_id) {
                ("self_referral" | "click_to_conversion_too_short", Some(p)) => {
                    Scope::Partner(p.clone())
                }
                _ => Scope::Admin,
            };
            let opened = self
                .open_dispute(&OpenDispute {
                    program_id: a.program_id.clone(),
                    conversion_id: conversion.clone(),
                    entry_id: None,
                    opened_by: format!("fraud-alert:{}", a.id),
                    scope,
                    reason: format!("fraud alert {} ({})", a.id, a.rule),
                    idempotency_key: Some(format!("fraud-alert:{}", a.id)),
                })
                .await;
            match opened {
                Ok(d) => {
                    if self.store.link_alert_dispute(&a.id, &d.id).await? {
                        done += 1;
                    }
                }
                // Nothing left to freeze (the conversion has no entries of that partner,
                // or they are paid): the alert stays for an admin, unfrozen.
                Err(e @ (EngineError::NotFound(_) | EngineError::Conflict(_))) => {
                    tracing::info!(alert = %a.id, "fraud alert not frozen: {e}");
                    self.store.link_alert_dispute(&a.id, "").await?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    /// A program's fraud rules (admin).
    pub async fn fraud_rules(&self, scope: &Scope, program_id: &str) -> Result<FraudConfig> {
        admin_only(scope, "fraud rules")?;
        self.known_program(program_id).await?;
        Ok(self.store.fraud_config(program_id).await?)
    }

    /// Set a program's fraud rules (admin).
    pub async fn set_fraud_rules(
        &self,
        scope: &Scope,
        program_id: &str,
        config: &FraudConfig,
    ) -> Result<FraudConfig> {
        admin_only(scope, "fraud rules")?;
        config.validate()?;
        self.known_program(program_id).await?;
        self.store.set_fraud_config(program_id, config).await?;
        Ok(*config)
    }

    /// Set a partner's own identity as a customer (admin): its customer id at the merchant
    /// and its e-mail address, kept only as a keyed hash. Answers `(customer id, whether an
    /// e-mail is on file)`.
    pub async fn set_partner_identity(
        &self,
        scope: &Scope,
        partner_id: &str,
        customer_id: Option<&str>,
        email: Option<&str>,
    ) -> Result<(Option<String>, bool)> {
        admin_only(scope, "partners' identities")?;
        self.partner(partner_id).await?;
        let email_hash = match email {
            Some(e) => Some(
                self.identity_hash("email", &e.trim().to_lowercase())
                    .await?,
            ),
            None => None,
        };
        self.store
            .set_partner_identity(partner_id, customer_id, email_hash.as_deref())
            .await?;
        Ok((customer_id.map(str::to_owned), email_hash.is_some()))
    }

    /// A partner's own identity (admin).
    pub async fn partner_identity(
        &self,
        scope: &Scope,
        partner_id: &str,
    ) -> Result<(Option<String>, bool)> {
        admin_only(scope, "partners' identities")?;
        self.store
            .partner_identity(partner_id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("partner {partner_id:?}")))
    }
}
