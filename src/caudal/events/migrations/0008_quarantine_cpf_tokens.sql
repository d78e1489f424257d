-- A quarantined payload may hold a CPF in clear (a field the intake could not tokenize); since
-- this migration `tokens` (0004) also holds the blind-index token of every valid CPF found in
-- the payload (events/quarantine_seal.py), so an erasure finds the entry without opening it.
-- `cpf_indexed` says an entry's tokens include those: true for every entry stored from now on
-- (the default), false for the entries already there (ADD COLUMN stores false as their value
-- without rewriting the table; the default then changes for new rows only). The events
-- retention worker opens those, while their day key exists, and adds the tokens
-- (`EventsRetention.index_cpfs`; `caudal quarantine index-cpfs` runs it at once).
ALTER TABLE events.quarantine ADD COLUMN cpf_indexed boolean NOT NULL DEFAULT false;
ALTER TABLE events.quarantine ALTER COLUMN cpf_indexed SET DEFAULT true;
CREATE INDEX quarantine_cpf_unindexed ON events.quarantine (id) WHERE NOT cpf_indexed;
