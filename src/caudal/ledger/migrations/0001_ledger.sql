-- The ledger (seed 003, FlowDb): event codes, the journal of transactions, daily balances with
-- accumulated columns, plus what makes postings asynchronous and idempotent: the accepted
-- impacts (one per tracekey) and the rejections decided by the posting engine. Dates are UTC.
CREATE SCHEMA ledger;

-- Event codes (seed 003 `event`): what an impact is, and which sides it may take.
CREATE TABLE ledger.event (
    code        serial4     PRIMARY KEY,
    active      boolean     NOT NULL DEFAULT true,
    description text        NOT NULL CHECK (length(description) BETWEEN 1 AND 200),
    allowdebit  boolean     NOT NULL DEFAULT true,
    allowcredit boolean     NOT NULL DEFAULT true,
    createdat   timestamptz NOT NULL DEFAULT now(),
    updatedat   timestamptz NOT NULL DEFAULT now()
);

INSERT INTO ledger.event (code, description, allowdebit, allowcredit) VALUES
    (1, 'Cash sale', false, true),
    (2, 'Card sale', false, true),
    (3, 'Supplier payment', true, false),
    (4, 'Operating expense', true, false),
    (5, 'Transfer', true, true),
    (6, 'Bank fee', true, false),
    (7, 'Refund', true, true),
    (8, 'Balance adjustment', true, true);
SELECT setval(pg_get_serial_sequence('ledger.event', 'code'), 8);

-- Every account that ever received an impact. The posting engine locks these rows (in a fixed
-- order) so that concurrent workers never interleave on one account's balances; the
-- consolidated report walks this table.
CREATE TABLE ledger.account (
    branch    text        NOT NULL,
    account   text        NOT NULL,
    createdat timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (branch, account)
);

-- Accepted impacts (POST /v1/ledger/impacts): the request as accepted, its fingerprint (same
-- tracekey + same fingerprint = the same answer; another fingerprint = 409) and the id its
-- transaction will get once posted.
CREATE TABLE ledger.impact (
    tracekey       uuid          PRIMARY KEY,
    transaction_id uuid          NOT NULL,
    fingerprint    text          NOT NULL,
    branch         text          NOT NULL,
    account        text          NOT NULL,
    amount         numeric(15,2) NOT NULL CHECK (amount > 0),
    debitcredit    varchar(1)    NOT NULL CHECK (debitcredit IN ('D', 'C')),
    eventcode      int4          NOT NULL,
    description    text          NOT NULL DEFAULT '',
    details        jsonb         NOT NULL DEFAULT '{}',
    dateref        date          NOT NULL,
    subject        text,
    acceptedat     timestamptz   NOT NULL DEFAULT now()
);

-- The journal (seed 003 `transaction`). `seq` orders entries within a day in posting order
-- (statements and running balances are ordered by dateref, seq).
CREATE TABLE ledger.transaction (
    id          uuid          PRIMARY KEY DEFAULT gen_random_uuid(),
    seq         bigint        GENERATED ALWAYS AS IDENTITY,
    branch      text          NOT NULL,
    account     text          NOT NULL,
    amount      numeric(15,2) NOT NULL CHECK (amount > 0),
    debitcredit varchar(1)    NOT NULL CHECK (debitcredit IN ('D', 'C')),
    eventcode   int4          NOT NULL REFERENCES ledger.event (code),
    description text          NOT NULL DEFAULT '',
    tracekey    uuid          NOT NULL,
    details     jsonb         NOT NULL DEFAULT '{}',
    dateref     date          NOT NULL,
    createdat   timestamptz   NOT NULL DEFAULT now()
);
-- One posting per tracekey, whatever the number of deliveries or workers.
CREATE UNIQUE INDEX transaction_tracekey ON ledger.transaction (tracekey);
-- Statements: one account's entries in (dateref, seq) order.
CREATE INDEX transaction_statement ON ledger.transaction (branch, account, dateref, seq);
-- FlowApi's GetTransactionAsync over every account for a date range.
CREATE INDEX transaction_dateref ON ledger.transaction (dateref);

-- Impacts the engine refused at posting time (e.g. the event code was deactivated meanwhile).
CREATE TABLE ledger.rejection (
    tracekey   uuid        PRIMARY KEY,
    code       text        NOT NULL,
    reason     text        NOT NULL,
    rejectedat timestamptz NOT NULL DEFAULT now()
);

-- Daily balances (seed 003 `balance`): day totals and totals accumulated up to that day.
-- One row per (branch, account, dateref) that has entries. Updated in place (HOT): fillfactor.
CREATE TABLE ledger.balance (
    id               uuid          NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    branch           text          NOT NULL,
    account          text          NOT NULL,
    dateref          date          NOT NULL,
    totaldebit       numeric(15,2) NOT NULL DEFAULT 0,
    totalcredit      numeric(15,2) NOT NULL DEFAULT 0,
    acumulateddebit  numeric(15,2) NOT NULL DEFAULT 0,
    acumulatedcredit numeric(15,2) NOT NULL DEFAULT 0,
    tracekey         uuid,
    createdat        timestamptz   NOT NULL DEFAULT now(),
    updatedat        timestamptz   NOT NULL DEFAULT now(),
    PRIMARY KEY (branch, account, dateref)
) WITH (fillfactor = 70);
CREATE INDEX balance_dateref ON ledger.balance (dateref);

-- Reconciliation runs (the nightly scheduler and `caudal ledger reconcile`).
CREATE TABLE ledger.reconciliation (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    startedat   timestamptz NOT NULL DEFAULT now(),
    finishedat  timestamptz,
    datefrom    date,
    dateto      date,
    differences integer,
    fixed       boolean     NOT NULL DEFAULT false,
    detail      jsonb       NOT NULL DEFAULT '[]'
);

GRANT USAGE ON SCHEMA ledger TO caudal_runtime;
GRANT SELECT, INSERT, UPDATE ON ledger.event, ledger.account, ledger.impact,
    ledger.transaction, ledger.rejection, ledger.balance, ledger.reconciliation TO caudal_runtime;
GRANT DELETE ON ledger.balance TO caudal_runtime;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA ledger TO caudal_runtime;
