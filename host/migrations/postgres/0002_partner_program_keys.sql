-- A partner is named together with its program wherever a hot table refers to one: the
-- foreign key (program_id, partner_id) -> partners (program_id, id) proves the partner
-- exists *and* belongs to that program, which the single-column key did not. On
-- ledger_entries it also implies the program (partners.program_id references programs), so
-- the separate program key goes: one foreign-key check fewer for every entry written.
ALTER TABLE partners ADD CONSTRAINT partners_program_id_id_key UNIQUE (program_id, id);

ALTER TABLE touchpoints
    DROP CONSTRAINT touchpoints_partner_id_fkey,
    ADD CONSTRAINT touchpoints_partner_fkey
        FOREIGN KEY (program_id, partner_id) REFERENCES partners (program_id, id);

ALTER TABLE revenue_attributions
    DROP CONSTRAINT revenue_attributions_partner_id_fkey,
    ADD CONSTRAINT revenue_attributions_partner_fkey
        FOREIGN KEY (program_id, partner_id) REFERENCES partners (program_id, id);

ALTER TABLE ledger_entries
    DROP CONSTRAINT ledger_entries_program_id_fkey,
    DROP CONSTRAINT ledger_entries_partner_id_fkey,
    ADD CONSTRAINT ledger_entries_partner_fkey
        FOREIGN KEY (program_id, partner_id) REFERENCES partners (program_id, id);
