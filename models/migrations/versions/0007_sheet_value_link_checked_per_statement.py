"""on PostgreSQL, a loaded value's submission checked once a statement instead of once a value

`sheet_value.submission_id` referenced `submission.id` by a foreign key. PostgreSQL checks a foreign key by a
query of its own for every inserted row, and a national workbook loads some 500 values: the checks were half of
the server's CPU for loading one (COPY of 500,000 values: 3.0 s with the key, 1.2 s without; on a two-core
machine the server's CPU is the intake's).

Here the key is replaced by triggers that keep the same rule:
- after each statement that inserts or updates values, one query over the statement's rows (a transition
  table) finds any value whose submission is not there, and fails the statement as the key did (SQLSTATE
  23503, foreign_key_violation); before it, the submissions named are locked as the key's checks lock them
  (FOR KEY SHARE), once each rather than once a value, so that none can be deleted until the values commit;
- a submission that values name cannot be deleted, nor its id changed (23503 again).

SQLite keeps its foreign key: it checks one in its own engine for next to nothing, while a trigger there runs
once a row (measured: 500,000 rows, 0.08 s for the key, 0.54 s for a trigger). The models declare the key;
`models.database.compared_in_schema` leaves this one link out of the comparison on PostgreSQL.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 12:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

FOREIGN_KEY = "sheet_value_submission_id_fkey"

_CREATE = (
    """CREATE FUNCTION sheet_value_names_a_submission() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing integer;
BEGIN
    -- the lock a foreign key's check takes, once a submission instead of once a value; each query takes the
    -- statement's few distinct submissions first (over all its values, NOT EXISTS costs four times as much)
    PERFORM 1 FROM submission WHERE id IN (SELECT DISTINCT submission_id FROM written) FOR KEY SHARE;
    SELECT named.id INTO missing FROM (SELECT DISTINCT submission_id AS id FROM written) named
        WHERE NOT EXISTS (SELECT 1 FROM submission s WHERE s.id = named.id) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'insert or update on table "sheet_value" violates its link to table "submission"'
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = 'Key (submission_id)=(' || missing || ') is not present in table "submission".';
    END IF;
    RETURN NULL;
END $$""",
    """CREATE TRIGGER sheet_value_inserted_names_a_submission AFTER INSERT ON sheet_value
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION sheet_value_names_a_submission()""",
    """CREATE TRIGGER sheet_value_updated_names_a_submission AFTER UPDATE ON sheet_value
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION sheet_value_names_a_submission()""",
    """CREATE FUNCTION submission_keeps_its_values() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM sheet_value WHERE submission_id = OLD.id) THEN
        RAISE EXCEPTION 'update or delete on table "submission" violates the link from table "sheet_value"'
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = 'Key (id)=(' || OLD.id || ') is still referenced from table "sheet_value".';
    END IF;
    RETURN NULL;
END $$""",
    """CREATE TRIGGER submission_deleted_keeps_its_values AFTER DELETE ON submission
    FOR EACH ROW EXECUTE FUNCTION submission_keeps_its_values()""",
    """CREATE TRIGGER submission_renumbered_keeps_its_values AFTER UPDATE OF id ON submission
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION submission_keeps_its_values()""",
)

_DROP = (
    "DROP TRIGGER submission_renumbered_keeps_its_values ON submission",
    "DROP TRIGGER submission_deleted_keeps_its_values ON submission",
    "DROP FUNCTION submission_keeps_its_values()",
    "DROP TRIGGER sheet_value_updated_names_a_submission ON sheet_value",
    "DROP TRIGGER sheet_value_inserted_names_a_submission ON sheet_value",
    "DROP FUNCTION sheet_value_names_a_submission()",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_constraint(FOREIGN_KEY, "sheet_value", type_="foreignkey")
    for statement in _CREATE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in _DROP:
        op.execute(statement)
    op.create_foreign_key(FOREIGN_KEY, "sheet_value", "submission", ["submission_id"], ["id"])
