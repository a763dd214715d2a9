-- The relay skips the events queued behind a failed one of the same key, so that a key
-- whose event cannot be published (no stream captures its subject, a permission) does
-- not fill every batch and hold back all the other keys. This index finds those failed
-- events at once; they are few, and leave it when they are published.
create index outbox_failed_idx on messaging.outbox (key, id) where published_at is null and last_error is not null;
