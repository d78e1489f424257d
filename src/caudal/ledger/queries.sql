-- Named queries of the ledger. Parameters are psycopg's (%(name)s).
-- JSON columns of a batch travel as ONE JSON array (`details`), expanded server-side: a text[]
-- of JSON documents cast to jsonb[] costs about four times more per row.

-- name: event_codes
SELECT code, active, description, allowdebit, allowcredit FROM ledger.event ORDER BY code

-- name: event_codes_in
SELECT code, active, description, allowdebit, allowcredit
FROM ledger.event WHERE code = ANY(%(codes)s::int4[])

-- name: event_code_insert
INSERT INTO ledger.event (active, description, allowdebit, allowcredit)
VALUES (%(active)s, %(description)s, %(allowdebit)s, %(allowcredit)s)
RETURNING code, active, description, allowdebit, allowcredit

-- name: event_code_update
UPDATE ledger.event SET
    active      = coalesce(%(active)s, active),
    description = coalesce(%(description)s, description),
    allowdebit  = coalesce(%(allowdebit)s, allowdebit),
    allowcredit = coalesce(%(allowcredit)s, allowcredit),
    updatedat   = now()
WHERE code = %(code)s
RETURNING code, active, description, allowdebit, allowcredit

-- name: impact_insert
-- Accept a batch: a tracekey already known is left alone (the caller compares fingerprints).
-- The batch is one JSON array of [tracekey, transaction_id, fingerprint, branch, account,
-- amount, side, eventcode, description, details, dateref] rows (psycopg dumped eleven array
-- parameters element by element in Python).
INSERT INTO ledger.impact (tracekey, transaction_id, fingerprint, branch, account, amount,
                           debitcredit, eventcode, description, details, dateref, subject)
SELECT (r->>0)::uuid, (r->>1)::uuid, r->>2, r->>3, r->>4, (r->>5)::numeric, r->>6,
       (r->>7)::int4, r->>8, r->9, (r->>10)::date, %(subject)s
FROM jsonb_array_elements(%(rows)s::jsonb) WITH ORDINALITY AS t(r, n)
ORDER BY n
ON CONFLICT (tracekey) DO NOTHING
RETURNING tracekey::text

-- name: impact_status
-- The state of impacts: pending until the engine posts (a transaction row) or rejects them.
-- Index probes per tracekey (OFFSET 0 keeps them so), never a join with the whole journal.
SELECT i.tracekey::text, i.fingerprint, i.transaction_id::text AS reserved_id, i.acceptedat,
       t.id::text AS transaction_id, t.createdat AS postedat,
       r.code, r.reason, r.rejectedat
FROM unnest(%(tracekeys)s::uuid[]) AS k(tracekey)
CROSS JOIN LATERAL (
    SELECT tracekey, fingerprint, transaction_id, acceptedat FROM ledger.impact
    WHERE tracekey = k.tracekey OFFSET 0) AS i
LEFT JOIN LATERAL (
    SELECT id, createdat FROM ledger.transaction WHERE tracekey = k.tracekey OFFSET 0) AS t ON true
LEFT JOIN LATERAL (
    SELECT code, reason, rejectedat FROM ledger.rejection WHERE tracekey = k.tracekey OFFSET 0
) AS r ON true

-- name: accounts_ensure
-- Posting step 1: every account of the batch exists (inserted in a fixed order). The accounts
-- are one JSON array of [branch, account] pairs (as the batches below: psycopg dumps a list
-- parameter element by element in Python).
INSERT INTO ledger.account (branch, account)
SELECT r->>0, r->>1 FROM jsonb_array_elements(%(accounts)s::jsonb) AS t(r)
ORDER BY (r->>0) COLLATE "C", (r->>1) COLLATE "C"
ON CONFLICT DO NOTHING

-- name: accounts_lock
-- Posting step 2: lock the batch's accounts, always in the same order (the caller sorts them;
-- the nested loop visits them in array order), so workers never deadlock; every balance change
-- of an account happens under this lock. One index probe per account.
SELECT count(*) FROM jsonb_array_elements(%(accounts)s::jsonb) AS t(r)
CROSS JOIN LATERAL (
    SELECT 1 FROM ledger.account WHERE branch = t.r->>0 AND account = t.r->>1 FOR UPDATE
) AS locked

-- name: decided
-- Tracekeys of the batch that already have an outcome (a redelivery must not decide again):
-- one index probe per tracekey (the LIMIT keeps it a probe, never a scan of the journal).
-- The tracekeys are a JSON array; each comes back as it was sent.
SELECT k.tracekey FROM jsonb_array_elements_text(%(tracekeys)s::jsonb) AS k(tracekey)
CROSS JOIN LATERAL (
    SELECT 1 FROM ledger.transaction t WHERE t.tracekey = k.tracekey::uuid
    UNION ALL
    SELECT 1 FROM ledger.rejection r WHERE r.tracekey = k.tracekey::uuid
    LIMIT 1
) AS d

-- name: rejections_insert
INSERT INTO ledger.rejection (tracekey, code, reason)
SELECT * FROM unnest(%(tracekeys)s::uuid[], %(codes)s::text[], %(reasons)s::text[])
ON CONFLICT (tracekey) DO NOTHING
RETURNING tracekey::text

-- name: transactions_insert
-- Posting step 3: the journal, in batch order (seq), one row per tracekey at most.
-- Answers the tracekeys inserted, grouped by their `createdat` (the transaction's start, so
-- one row per batch): a JSON array per row, not a result row per posting to convert.
WITH inserted AS (
    INSERT INTO ledger.transaction (id, branch, account, amount, debitcredit, eventcode,
                                    description, tracekey, details, dateref)
    -- The batch is one JSON array of [id, branch, account, amount, side, eventcode,
    -- description, tracekey, details, dateref] rows.
    SELECT (r->>0)::uuid, r->>1, r->>2, (r->>3)::numeric, r->>4, (r->>5)::int4, r->>6,
           (r->>7)::uuid, r->8, (r->>9)::date
    FROM jsonb_array_elements(%(rows)s::jsonb) WITH ORDINALITY AS t(r, n)
    ORDER BY n
    ON CONFLICT (tracekey) DO NOTHING
    RETURNING tracekey, createdat
)
SELECT createdat, json_agg(tracekey)::text AS tracekeys FROM inserted GROUP BY createdat

-- name: balance_days_ensure
-- Posting step 4: a balance row for every (account, day) of the batch; a new day starts from
-- the accumulated totals of the account's latest earlier day.
INSERT INTO ledger.balance (branch, account, dateref, acumulateddebit, acumulatedcredit,
                            tracekey)
SELECT d.branch, d.account, d.dateref,
       coalesce(p.acumulateddebit, 0), coalesce(p.acumulatedcredit, 0), d.tracekey
FROM (SELECT r->>0 AS branch, r->>1 AS account, (r->>2)::date AS dateref,
             (r->>3)::uuid AS tracekey
      FROM jsonb_array_elements(%(rows)s::jsonb) AS r) AS d
LEFT JOIN LATERAL (  -- most days exist already: skip them before the speculative insert
    SELECT 1 AS found FROM ledger.balance x
    WHERE x.branch = d.branch AND x.account = d.account AND x.dateref = d.dateref
    OFFSET 0  -- keeps this an index probe per day, whatever the table's size
) AS e ON true
LEFT JOIN LATERAL (
    SELECT b.acumulateddebit, b.acumulatedcredit FROM ledger.balance b
    WHERE b.branch = d.branch AND b.account = d.account AND b.dateref < d.dateref
    ORDER BY b.dateref DESC LIMIT 1
) AS p ON true
WHERE e.found IS NULL
ON CONFLICT (branch, account, dateref) DO NOTHING

-- name: balances_apply
-- Posting step 5, one statement for the whole batch: each day's own totals grow by that day's
-- delta; every day's accumulated totals grow by the deltas of that day and all earlier days of
-- the batch (a back-dated impact moves every later day).
UPDATE ledger.balance AS b SET
    totaldebit       = b.totaldebit + x.day_debit,
    totalcredit      = b.totalcredit + x.day_credit,
    acumulateddebit  = b.acumulateddebit + x.cum_debit,
    acumulatedcredit = b.acumulatedcredit + x.cum_credit,
    updatedat        = now()
FROM (
    SELECT b2.branch, b2.account, b2.dateref,
           coalesce(sum(d.debit) FILTER (WHERE d.dateref = b2.dateref), 0) AS day_debit,
           coalesce(sum(d.credit) FILTER (WHERE d.dateref = b2.dateref), 0) AS day_credit,
           sum(d.debit) AS cum_debit,
           sum(d.credit) AS cum_credit
    FROM (SELECT r->>0 AS branch, r->>1 AS account, (r->>2)::date AS dateref,
                 (r->>3)::numeric AS debit, (r->>4)::numeric AS credit
          FROM jsonb_array_elements(%(rows)s::jsonb) AS r) AS d
    CROSS JOIN LATERAL (
        SELECT branch, account, dateref FROM ledger.balance
        WHERE branch = d.branch AND account = d.account AND dateref >= d.dateref
        OFFSET 0  -- an index range scan per delta, never a scan of every balance
    ) AS b2
    GROUP BY b2.branch, b2.account, b2.dateref
) AS x
WHERE b.branch = x.branch AND b.account = x.account AND b.dateref = x.dateref

-- name: balance_at
-- The account's balance at a date: its latest balance row on or before it (no row: the account
-- never received an impact; a row of NULLs: nothing on or before that date).
SELECT b.dateref, b.totaldebit, b.totalcredit, b.acumulateddebit, b.acumulatedcredit,
       b.updatedat
FROM ledger.account a
LEFT JOIN LATERAL (
    SELECT dateref, totaldebit, totalcredit, acumulateddebit, acumulatedcredit, updatedat
    FROM ledger.balance
    WHERE branch = a.branch AND account = a.account AND dateref <= %(date)s
    ORDER BY dateref DESC LIMIT 1
) AS b ON true
WHERE a.branch = %(branch)s AND a.account = %(account)s

-- name: statement_page
-- Entries after the position (start_date, after_seq) up to `to`, with their running balance:
-- the accumulated balance at the end of the day before start_date, plus that day's entries up
-- to after_seq, plus the window sum.
WITH opening AS (
    SELECT coalesce((
        SELECT acumulatedcredit - acumulateddebit FROM ledger.balance
        WHERE branch = %(branch)s AND account = %(account)s AND dateref < %(start_date)s
        ORDER BY dateref DESC LIMIT 1), 0)
      + coalesce((
        SELECT sum(CASE WHEN debitcredit = 'C' THEN amount ELSE -amount END)
        FROM ledger.transaction
        WHERE branch = %(branch)s AND account = %(account)s AND dateref = %(start_date)s
          AND seq <= %(after_seq)s), 0) AS balance
), page AS (
    SELECT t.id, t.seq, t.tracekey, t.dateref, t.eventcode, t.description, t.debitcredit,
           t.amount, t.details, t.createdat
    FROM ledger.transaction t
    WHERE t.branch = %(branch)s AND t.account = %(account)s
      AND (t.dateref, t.seq) > (%(start_date)s::date, %(after_seq)s::bigint)
      AND t.dateref <= %(to)s
    ORDER BY t.dateref, t.seq
    LIMIT %(limit)s
)
SELECT p.id::text AS id, p.seq, p.tracekey::text AS tracekey, p.dateref, p.eventcode,
       e.description AS eventdescription, p.description, p.debitcredit, p.amount, p.details,
       p.createdat,
       o.balance + sum(CASE WHEN p.debitcredit = 'C' THEN p.amount ELSE -p.amount END)
           OVER (ORDER BY p.dateref, p.seq) AS running,
       o.balance AS opening
FROM page p CROSS JOIN opening o
LEFT JOIN ledger.event e ON e.code = p.eventcode
ORDER BY p.dateref, p.seq

-- name: opening_balance
SELECT coalesce((
    SELECT acumulatedcredit - acumulateddebit FROM ledger.balance
    WHERE branch = %(branch)s AND account = %(account)s AND dateref < %(date)s
    ORDER BY dateref DESC LIMIT 1), 0)

-- name: consolidated_page
-- Every account's position at a date, in (branch, account) order after a cursor.
SELECT a.branch, a.account, b.dateref,
       CASE WHEN b.dateref = %(date)s THEN b.totaldebit ELSE 0 END AS totaldebit,
       CASE WHEN b.dateref = %(date)s THEN b.totalcredit ELSE 0 END AS totalcredit,
       b.acumulateddebit, b.acumulatedcredit
FROM ledger.account a
CROSS JOIN LATERAL (
    SELECT dateref, totaldebit, totalcredit, acumulateddebit, acumulatedcredit
    FROM ledger.balance
    WHERE branch = a.branch AND account = a.account AND dateref <= %(date)s
    ORDER BY dateref DESC LIMIT 1
) AS b
WHERE (a.branch, a.account) > (%(after_branch)s, %(after_account)s)
ORDER BY a.branch, a.account
LIMIT %(limit)s

-- name: flowapi_transactions
-- FlowApi GetTransactionAsync: a date range, optionally one account and/or one tracekey.
-- Columns are named as FlowApi's JSON fields.
SELECT id::text AS id, branch, account, amount, debitcredit AS "debitCredit",
       eventcode AS "eventCode", description, tracekey::text AS "traceKey",
       details::text AS details, dateref AS "dateRef", createdat AS "createdAt"
FROM ledger.transaction
WHERE dateref BETWEEN %(start)s AND %(end)s
  AND (%(branch)s::text IS NULL OR (branch = %(branch)s AND account = %(account)s))
  AND (%(tracekey)s::uuid IS NULL OR tracekey = %(tracekey)s::uuid)
ORDER BY dateref, seq
LIMIT %(limit)s

-- name: flowapi_acumulated
-- FlowApi GetTransactionAcumulatedAsync: the statement with the balance before and after
-- each entry (debits negative, as FlowApi shows them).
WITH before AS (
    SELECT coalesce((
        SELECT acumulatedcredit - acumulateddebit FROM ledger.balance
        WHERE branch = %(branch)s AND account = %(account)s AND dateref < %(start)s
        ORDER BY dateref DESC LIMIT 1), 0) AS balance
), entries AS (
    SELECT t.dateref, t.eventcode, e.description AS eventdescription,
           t.description AS transactiondescription,
           CASE WHEN t.debitcredit = 'D' THEN -t.amount ELSE 0 END AS debit,
           CASE WHEN t.debitcredit = 'C' THEN t.amount ELSE 0 END AS credit,
           sum(CASE WHEN t.debitcredit = 'D' THEN -t.amount ELSE t.amount END)
               OVER (ORDER BY t.dateref, t.seq) AS total,
           t.createdat, t.id, t.seq
    FROM ledger.transaction t
    LEFT JOIN ledger.event e ON e.code = t.eventcode
    WHERE t.branch = %(branch)s AND t.account = %(account)s
      AND t.dateref BETWEEN %(start)s AND %(end)s
    ORDER BY t.dateref, t.seq
    LIMIT %(limit)s
)
SELECT dateref AS "dateRef", eventcode AS "eventCode", eventdescription AS "eventDescription",
       transactiondescription AS "transactionDescription",
       coalesce(lag(total) OVER (ORDER BY dateref, seq), 0) + before.balance AS "beforeBalance",
       debit, credit, total + before.balance AS acumulated, createdat AS "createdAt", id::text AS id
FROM entries CROSS JOIN before
ORDER BY dateref, seq

-- name: flowapi_balances
-- FlowApi GetBalanceAsync: balance rows of a date range, optionally one account / tracekey.
SELECT id::text AS id, branch, account, dateref AS "dateRef", totaldebit AS "totalDebit",
       totalcredit AS "totalCredit", acumulateddebit AS "acumulatedDebit",
       acumulatedcredit AS "acumulatedCredit",
       acumulatedcredit - acumulateddebit AS "acumulatedBalance", createdat AS "createdAt",
       tracekey::text AS "traceKey"
FROM ledger.balance
WHERE dateref BETWEEN %(start)s AND %(end)s
  AND (%(branch)s::text IS NULL OR (branch = %(branch)s AND account = %(account)s))
  AND (%(tracekey)s::uuid IS NULL OR tracekey = %(tracekey)s::uuid)
ORDER BY branch, account, dateref
LIMIT %(limit)s

-- name: reconcile_differences
-- Every (account, day) whose stored balance differs from the one recomputed from the journal
-- (or exists on one side only). Accumulated totals always start at the account's first day.
WITH journal AS (
    SELECT branch, account, dateref,
           coalesce(sum(amount) FILTER (WHERE debitcredit = 'D'), 0) AS totaldebit,
           coalesce(sum(amount) FILTER (WHERE debitcredit = 'C'), 0) AS totalcredit
    FROM ledger.transaction
    WHERE %(to)s::date IS NULL OR dateref <= %(to)s::date
    GROUP BY branch, account, dateref
), expected AS (
    SELECT branch, account, dateref, totaldebit, totalcredit,
           sum(totaldebit) OVER w AS acumulateddebit,
           sum(totalcredit) OVER w AS acumulatedcredit
    FROM journal
    WINDOW w AS (PARTITION BY branch, account ORDER BY dateref)
), actual AS (
    SELECT branch, account, dateref, totaldebit, totalcredit, acumulateddebit, acumulatedcredit
    FROM ledger.balance
    WHERE %(to)s::date IS NULL OR dateref <= %(to)s::date
)
SELECT coalesce(e.branch, a.branch) AS branch, coalesce(e.account, a.account) AS account,
       coalesce(e.dateref, a.dateref) AS dateref,
       e.totaldebit AS e_totaldebit, e.totalcredit AS e_totalcredit,
       e.acumulateddebit AS e_acumulateddebit, e.acumulatedcredit AS e_acumulatedcredit,
       a.totaldebit AS a_totaldebit, a.totalcredit AS a_totalcredit,
       a.acumulateddebit AS a_acumulateddebit, a.acumulatedcredit AS a_acumulatedcredit
FROM expected e
FULL JOIN actual a
  ON a.branch = e.branch AND a.account = e.account AND a.dateref = e.dateref
WHERE (%(from)s::date IS NULL OR coalesce(e.dateref, a.dateref) >= %(from)s::date)
  AND (e.branch IS NULL OR a.branch IS NULL
       OR (e.totaldebit, e.totalcredit, e.acumulateddebit, e.acumulatedcredit)
          IS DISTINCT FROM (a.totaldebit, a.totalcredit, a.acumulateddebit, a.acumulatedcredit))
ORDER BY 1, 2, 3
LIMIT %(limit)s

-- name: reconcile_rebuild
-- Rewrite the balances of the given (already locked) accounts from the journal: upsert every
-- day that has entries, then delete days that have none.
WITH targets AS (  -- a JSON array of [branch, account] pairs, as accounts_lock takes them
    SELECT r->>0 AS branch, r->>1 AS account FROM jsonb_array_elements(%(accounts)s::jsonb) AS t(r)
), journal AS (
    SELECT t.branch, t.account, t.dateref,
           coalesce(sum(t.amount) FILTER (WHERE t.debitcredit = 'D'), 0) AS totaldebit,
           coalesce(sum(t.amount) FILTER (WHERE t.debitcredit = 'C'), 0) AS totalcredit
    FROM ledger.transaction t JOIN targets USING (branch, account)
    GROUP BY t.branch, t.account, t.dateref
)
INSERT INTO ledger.balance (branch, account, dateref, totaldebit, totalcredit,
                            acumulateddebit, acumulatedcredit)
SELECT branch, account, dateref, totaldebit, totalcredit,
       sum(totaldebit) OVER w, sum(totalcredit) OVER w
FROM journal
WINDOW w AS (PARTITION BY branch, account ORDER BY dateref)
ON CONFLICT (branch, account, dateref) DO UPDATE SET
    totaldebit = EXCLUDED.totaldebit,
    totalcredit = EXCLUDED.totalcredit,
    acumulateddebit = EXCLUDED.acumulateddebit,
    acumulatedcredit = EXCLUDED.acumulatedcredit,
    updatedat = now()

-- name: reconcile_delete_orphans
DELETE FROM ledger.balance b
USING (SELECT r->>0 AS branch, r->>1 AS account
       FROM jsonb_array_elements(%(accounts)s::jsonb) AS x(r)) AS t
WHERE b.branch = t.branch AND b.account = t.account
  AND NOT EXISTS (
      SELECT 1 FROM ledger.transaction x
      WHERE x.branch = b.branch AND x.account = b.account AND x.dateref = b.dateref)

-- name: reconcile_record
INSERT INTO ledger.reconciliation (startedat, finishedat, datefrom, dateto, differences, fixed,
                                   detail)
VALUES (%(startedat)s, now(), %(from)s, %(to)s, %(differences)s, %(fixed)s, %(detail)s::jsonb)
RETURNING id
