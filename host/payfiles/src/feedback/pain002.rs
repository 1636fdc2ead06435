//! Reading ISO 20022 `pain.002` customer payment status reports
//! (CustomerPaymentStatusReport) into per-`EndToEndId` outcomes.
//!
//! Versions `.03`, `.09`, `.10`, `.11` and `.12` name the parts read here identically
//! (`OrgnlGrpInfAndSts/GrpSts`, `OrgnlPmtInfAndSts/PmtInfSts`,
//! `TxInfAndSts/OrgnlEndToEndId`, `TxSts`, `StsRsnInf/Rsn/Cd|Prtry`, `AddtlInf`), so one
//! reader serves them all. A transaction without its own `TxSts` takes its payment
//! group's status, and that the group header's, as ISO 20022 specifies. DTDs are refused
//! (roxmltree's default), which shuts out entity-expansion attacks.

use super::error::FeedbackError;
use super::{ItemKey, ItemOutcome, Outcome};
use roxmltree::{Document, Node};

/// The namespace prefix of every `pain.002` version.
const NAMESPACE_PREFIX: &str = "urn:iso:std:iso:20022:tech:xsd:pain.002.001.";

/// The versions whose structure this reader has been checked against.
const VERSIONS: &[&str] = &["03", "09", "10", "11", "12"];

/// A status report, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    /// The report's own `MsgId`.
    pub message_id: String,
    /// The `MsgId` of the `pain.001` it reports on.
    pub original_message_id: String,
    /// The status of the whole message, if the bank gave one (a group-level `RJCT`
    /// without transaction details means every item failed).
    pub group: Option<Outcome>,
    /// Statuses given per payment group (`PmtInf`), if any.
    pub payment_groups: Vec<PaymentGroupStatus>,
    /// Statuses given per transaction.
    pub items: Vec<ItemOutcome>,
}

/// A payment group's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentGroupStatus {
    /// The `PmtInfId` the `pain.001` gave the group.
    pub original_payment_information_id: String,
    /// Its status.
    pub outcome: Outcome,
}

/// Reads a `pain.002` report (versions `.03` and `.09`–`.12`).
pub fn parse_pain002(xml: &str) -> Result<StatusReport, FeedbackError> {
    let document = Document::parse(xml).map_err(|e| FeedbackError::Xml(e.to_string()))?;
    let root = document.root_element();
    let namespace = root.tag_name().namespace().unwrap_or_default();
    let version = namespace.strip_prefix(NAMESPACE_PREFIX);
    if root.tag_name().name() != "Document" || !version.is_some_and(|v| VERSIONS.contains(&v)) {
        return Err(FeedbackError::UnsupportedMessage {
            namespace: namespace.to_owned(),
        });
    }
    let report = required(root, "CstmrPmtStsRpt", "Document")?;
    let header = required(report, "GrpHdr", "CstmrPmtStsRpt")?;
    let original = required(report, "OrgnlGrpInfAndSts", "CstmrPmtStsRpt")?;
    let group_status = status(original, "GrpSts", None)?;

    let mut payment_groups = Vec::new();
    let mut items = Vec::new();
    for payment in children(report, "OrgnlPmtInfAndSts") {
        let payment_status = status(payment, "PmtInfSts", group_status.as_ref())?;
        if let Some(outcome) = status(payment, "PmtInfSts", None)? {
            payment_groups.push(PaymentGroupStatus {
                original_payment_information_id: text(payment, "OrgnlPmtInfId").unwrap_or_default(),
                outcome,
            });
        }
        for transaction in children(payment, "TxInfAndSts") {
            let end_to_end_id =
                text(transaction, "OrgnlEndToEndId").ok_or_else(|| FeedbackError::Missing {
                    element: "OrgnlEndToEndId",
                    context: "TxInfAndSts".to_owned(),
                })?;
            let outcome =
                status(transaction, "TxSts", payment_status.as_ref())?.ok_or_else(|| {
                    FeedbackError::Missing {
                        element: "TxSts",
                        context: format!("TxInfAndSts of {end_to_end_id} (nor a group status)"),
                    }
                })?;
            items.push(ItemOutcome {
                key: ItemKey::EndToEndId(end_to_end_id),
                outcome,
            });
        }
    }
    Ok(StatusReport {
        message_id: required_text(header, "MsgId", "GrpHdr")?,
        original_message_id: required_text(original, "OrgnlMsgId", "OrgnlGrpInfAndSts")?,
        group: group_status,
        payment_groups,
        items,
    })
}

/// The outcome an element's status child gives, with the element's reason; `inherited`
/// when it has no such child.
fn status(
    node: Node<'_, '_>,
    element: &'static str,
    inherited: Option<&Outcome>,
) -> Result<Option<Outcome>, FeedbackError> {
    let Some(code) = text(node, element) else {
        return Ok(inherited.cloned());
    };
    if code.len() != 4 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(FeedbackError::StatusCode { code });
    }
    let reason_info = child(node, "StsRsnInf");
    Ok(Some(match code.as_str() {
        "RJCT" => Outcome::Rejected {
            reason: reason_info.and_then(|info| {
                child(info, "Rsn").and_then(|r| text(r, "Cd").or_else(|| text(r, "Prtry")))
            }),
            detail: reason_info.and_then(|info| {
                let lines: Vec<String> = children(info, "AddtlInf")
                    .filter_map(|n| n.text().map(|t| t.trim().to_owned()))
                    .collect();
                Some(lines.join(" ")).filter(|joined| !joined.is_empty())
            }),
        },
        "ACCP" | "ACSC" | "ACSP" | "ACWC" | "ACCC" => Outcome::Accepted { status: code },
        _ => Outcome::Pending { status: code },
    }))
}

fn children<'a, 'input>(
    node: Node<'a, 'input>,
    name: &'static str,
) -> impl Iterator<Item = Node<'a, 'input>> {
    node.children()
        .filter(move |n| n.is_element() && n.tag_name().name() == name)
}

fn child<'a, 'input>(node: Node<'a, 'input>, name: &'static str) -> Option<Node<'a, 'input>> {
    children(node, name).next()
}

fn required<'a, 'input>(
    node: Node<'a, 'input>,
    name: &'static str,
    context: &str,
) -> Result<Node<'a, 'input>, FeedbackError> {
    child(node, name).ok_or_else(|| FeedbackError::Missing {
        element: name,
        context: context.to_owned(),
    })
}

/// A child's trimmed text; `None` when absent or empty.
fn text(node: Node<'_, '_>, name: &'static str) -> Option<String> {
    child(node, name)
        .and_then(|n| n.text())
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
}

fn required_text(
    node: Node<'_, '_>,
    name: &'static str,
    context: &str,
) -> Result<String, FeedbackError> {
    text(node, name).ok_or_else(|| FeedbackError::Missing {
        element: name,
        context: context.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(version: &str, body: &str) -> String {
        format!(
            "<?xml version=\"1.0\"?><Document xmlns=\"{NAMESPACE_PREFIX}{version}\"><CstmrPmtStsRpt>\
             <GrpHdr><MsgId>STS-1</MsgId><CreDtTm>2026-12-01T08:00:00</CreDtTm></GrpHdr>\
             <OrgnlGrpInfAndSts><OrgnlMsgId>MSG-1</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.09</OrgnlMsgNmId>{body}"
        )
    }

    fn close() -> &'static str {
        "</CstmrPmtStsRpt></Document>"
    }

    #[test]
    fn transactions_inherit_their_group_status() {
        let xml = report(
            "09",
            "</OrgnlGrpInfAndSts><OrgnlPmtInfAndSts><OrgnlPmtInfId>MSG-1-1</OrgnlPmtInfId>\
             <PmtInfSts>ACSP</PmtInfSts><TxInfAndSts><OrgnlEndToEndId>A</OrgnlEndToEndId>\
             </TxInfAndSts></OrgnlPmtInfAndSts>",
        ) + close();
        let report = parse_pain002(&xml).unwrap();
        assert_eq!(report.group, None);
        assert_eq!(report.payment_groups.len(), 1);
        assert_eq!(
            report.items[0].outcome,
            Outcome::Accepted {
                status: "ACSP".into()
            }
        );
    }

    #[test]
    fn a_group_rejection_without_transactions_is_reported_as_such() {
        let xml = report(
            "10",
            "<GrpSts>RJCT</GrpSts><StsRsnInf><Rsn><Cd>FF01</Cd></Rsn><AddtlInf>bad file</AddtlInf>\
             </StsRsnInf></OrgnlGrpInfAndSts>",
        ) + close();
        let report = parse_pain002(&xml).unwrap();
        assert_eq!(
            report.group,
            Some(Outcome::Rejected {
                reason: Some("FF01".into()),
                detail: Some("bad file".into())
            })
        );
        assert!(report.items.is_empty());
    }

    #[test]
    fn refusals_have_their_kind() {
        let kind = |xml: &str| parse_pain002(xml).unwrap_err().kind();
        assert_eq!(kind("<Document"), "xml-invalid");
        assert_eq!(
            kind("<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09\"/>"),
            "message-unsupported"
        );
        assert_eq!(
            kind(
                &(report(
                    "10",
                    "</OrgnlGrpInfAndSts><OrgnlPmtInfAndSts><TxInfAndSts><TxSts>RJCT</TxSts></TxInfAndSts></OrgnlPmtInfAndSts>"
                ) + close())
            ),
            "element-missing"
        );
        assert_eq!(
            kind(&(report("10", "<GrpSts>rjct</GrpSts></OrgnlGrpInfAndSts>") + close())),
            "status-code-invalid"
        );
        assert_eq!(
            kind(
                &(report(
                    "10",
                    "</OrgnlGrpInfAndSts><OrgnlPmtInfAndSts><TxInfAndSts><OrgnlEndToEndId>A</OrgnlEndToEndId></TxInfAndSts></OrgnlPmtInfAndSts>"
                ) + close())
            ),
            "element-missing"
        );
        let dtd = "<?xml version=\"1.0\"?><!DOCTYPE d [<!ENTITY e \"x\">]><Document/>";
        assert_eq!(kind(dtd), "xml-invalid");
    }
}
