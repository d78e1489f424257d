-- Members are ordered by when they joined (then by id): every member derives its fair share of
-- the partitions from that one order (see bus/assignment.py), the oldest taking the remainder.
ALTER TABLE bus.members ADD COLUMN joined_at timestamptz NOT NULL DEFAULT now();
