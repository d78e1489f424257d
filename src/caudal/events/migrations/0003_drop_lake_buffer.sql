-- The lake sink writes Parquet files straight from bus deliveries (files named after bus
-- offsets: events/sinks/lake.py); the bus already keeps the events durably until the `lake`
-- group commits, so the buffer table and its batch sequence have no reader or writer left.
DROP TABLE IF EXISTS events.lake_buffer;
DROP SEQUENCE IF EXISTS events.lake_batch_seq;
