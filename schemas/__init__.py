"""The wire: Avro schemas, their typed records, the codec, topic names and series identity."""
