//! Rendering a checked plan as `pain.001.001.09` XML.
//!
//! Written by hand rather than through an XML library: the elements are fixed, every
//! text has already been reduced to the EPC character set (so escaping is a safety net,
//! not a path that runs), and a plain `String` writer cannot fail, so rendering has no
//! error to report. Element order follows the schema's sequences.

use super::NAMESPACE;
use super::plan::{Account, Group, Plan, Scheme, Transfer};
use std::borrow::Cow;

pub(super) fn render(plan: &Plan) -> String {
    let mut x = Xml::default();
    x.out
        .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.out
        .push_str(&format!("<Document xmlns=\"{NAMESPACE}\">\n"));
    x.depth = 1;
    x.open("CstmrCdtTrfInitn");
    group_header(&mut x, plan);
    for group in &plan.groups {
        payment_information(&mut x, plan, group);
    }
    x.close("CstmrCdtTrfInitn");
    x.out.push_str("</Document>\n");
    x.out
}

fn group_header(x: &mut Xml, plan: &Plan) {
    x.open("GrpHdr");
    x.leaf("MsgId", &plan.message_id);
    x.leaf("CreDtTm", &plan.created_at);
    x.leaf("NbOfTxs", &plan.nb_of_txs.to_string());
    x.leaf("CtrlSum", &plan.ctrl_sum.to_string());
    x.open("InitgPty");
    x.leaf("Nm", &plan.debtor_name);
    x.close("InitgPty");
    x.close("GrpHdr");
}

fn payment_information(x: &mut Xml, plan: &Plan, group: &Group) {
    x.open("PmtInf");
    x.leaf("PmtInfId", &group.id);
    x.leaf("PmtMtd", "TRF");
    x.leaf("NbOfTxs", &group.transfers.len().to_string());
    x.leaf("CtrlSum", &group.ctrl_sum.to_string());
    if group.scheme == Scheme::Sepa {
        x.open("PmtTpInf");
        x.open("SvcLvl");
        x.leaf("Cd", "SEPA");
        x.close("SvcLvl");
        x.close("PmtTpInf");
    }
    x.open("ReqdExctnDt");
    x.leaf("Dt", &group.execution_date.format("%Y-%m-%d").to_string());
    x.close("ReqdExctnDt");
    x.open("Dbtr");
    x.leaf("Nm", &plan.debtor_name);
    x.close("Dbtr");
    x.open("DbtrAcct");
    account(x, &Account::Iban(plan.debtor_iban.clone()));
    x.close("DbtrAcct");
    x.open("DbtrAgt");
    agent(x, plan.debtor_bic.as_deref(), None);
    x.close("DbtrAgt");
    // SLEV: charges follow the SEPA scheme (mandatory for SEPA). SHAR for wires: each
    // side pays its own bank, the usual default for international payouts.
    let charge_bearer = match group.scheme {
        Scheme::Sepa => "SLEV",
        Scheme::International => "SHAR",
    };
    x.leaf("ChrgBr", charge_bearer);
    for transfer in &group.transfers {
        credit_transfer(x, transfer);
    }
    x.close("PmtInf");
}

fn credit_transfer(x: &mut Xml, t: &Transfer) {
    x.open("CdtTrfTxInf");
    x.open("PmtId");
    x.leaf("EndToEndId", &t.end_to_end_id);
    x.close("PmtId");
    x.open("Amt");
    x.leaf_with_attribute("InstdAmt", ("Ccy", &t.currency), &t.amount.to_string());
    x.close("Amt");
    if t.bic.is_some() || t.bank_country.is_some() {
        x.open("CdtrAgt");
        agent(x, t.bic.as_deref(), t.bank_country.as_deref());
        x.close("CdtrAgt");
    }
    x.open("Cdtr");
    x.leaf("Nm", &t.creditor_name);
    x.close("Cdtr");
    x.open("CdtrAcct");
    account(x, &t.account);
    x.close("CdtrAcct");
    if let Some(remittance) = &t.remittance {
        x.open("RmtInf");
        x.leaf("Ustrd", remittance);
        x.close("RmtInf");
    }
    x.close("CdtTrfTxInf");
}

fn account(x: &mut Xml, account: &Account) {
    x.open("Id");
    match account {
        Account::Iban(iban) => x.leaf("IBAN", iban),
        Account::Other(number) => {
            x.open("Othr");
            x.leaf("Id", number);
            x.close("Othr");
        }
    }
    x.close("Id");
}

/// A financial institution by BIC (and, for wires, its country); without a BIC, the
/// EPC's `NOTPROVIDED`.
fn agent(x: &mut Xml, bic: Option<&str>, country: Option<&str>) {
    x.open("FinInstnId");
    match bic {
        Some(bic) => x.leaf("BICFI", bic),
        None => {
            x.open("Othr");
            x.leaf("Id", "NOTPROVIDED");
            x.close("Othr");
        }
    }
    if let (Some(_), Some(country)) = (bic, country) {
        x.open("PstlAdr");
        x.leaf("Ctry", country);
        x.close("PstlAdr");
    }
    x.close("FinInstnId");
}

/// An indenting element writer over a `String`.
#[derive(Default)]
struct Xml {
    out: String,
    depth: usize,
}

impl Xml {
    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
    }

    fn open(&mut self, name: &str) {
        self.indent();
        self.out.push_str(&format!("<{name}>\n"));
        self.depth += 1;
    }

    fn close(&mut self, name: &str) {
        self.depth -= 1;
        self.indent();
        self.out.push_str(&format!("</{name}>\n"));
    }

    fn leaf(&mut self, name: &str, text: &str) {
        self.indent();
        self.out
            .push_str(&format!("<{name}>{}</{name}>\n", escape(text)));
    }

    fn leaf_with_attribute(&mut self, name: &str, (key, value): (&str, &str), text: &str) {
        self.indent();
        self.out.push_str(&format!(
            "<{name} {key}=\"{}\">{}</{name}>\n",
            escape(value),
            escape(text)
        ));
    }
}

/// Escapes the characters XML text and attribute values may not hold as they are. The
/// EPC set has only `'` of them, which needs no escaping in text or in `"`-quoted
/// attributes; the others are kept out by transliteration, so this never rewrites a
/// SEPA text, but an XML writer must not rely on its callers for well-formedness.
fn escape(text: &str) -> Cow<'_, str> {
    if !text.contains(['&', '<', '>', '"']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_handles_markup() {
        assert_eq!(escape("O'Brien"), "O'Brien");
        assert_eq!(escape("a<b & \"c\">"), "a&lt;b &amp; &quot;c&quot;&gt;");
    }
}
