-- An operator's move of a strategy version: messages pinned to (tenant_id, name, version)
-- continue with moved_to_version from their next routing decision (next attempt or next
-- cascade step). The only other column of a strategies row that ever changes (beside
-- the default flag), so a version's definition still explains every message journaled
-- with it; the journal names the version that routed each attempt.
-- The UPDATE that sets it notifies commstrat_config through the trigger of migration 004,
-- so every replica's routing cache takes the move on the next snapshot.
-- The target must be a version of the same strategy (the foreign key; rows go only with
-- their tenant, all at once). Cycles and long chains are refused by the config store
-- when it writes (strategy-moves.ts).
-- Kept compatible with PostgreSQL 12.
ALTER TABLE strategies
  ADD COLUMN moved_to_version integer NULL,
  ADD CONSTRAINT strategies_move_elsewhere CHECK (moved_to_version <> version),
  ADD CONSTRAINT strategies_move_target FOREIGN KEY (tenant_id, name, moved_to_version)
    REFERENCES strategies (tenant_id, name, version);
