CREATE TABLE messages (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role text NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
  content text NOT NULL,
  content_length integer NOT NULL GENERATED ALWAYS AS (char_length(content)) STORED,
  arrival bigint NOT NULL GENERATED ALWAYS AS IDENTITY,
  created_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz
);

-- Serves the history query: one user's messages that are not deleted,
-- newest first. (Postgres reads the user's live rows from it and sorts
-- that handful; a partial index "(user_id, created_at DESC) WHERE
-- deleted_at IS NULL" would also spare the sort.)
CREATE INDEX messages_user_history_idx ON messages (user_id, deleted_at, created_at);
