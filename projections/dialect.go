package projections

import "time"

type savepointSQL struct{ begin, rollback, release string }

var savepoints = map[Dialect]savepointSQL{
	SQLite:    {"SAVEPOINT ev", "ROLLBACK TO ev", "RELEASE ev"},
	SQLServer: {"SAVE TRANSACTION ev", "ROLLBACK TRANSACTION ev", ""},
}

func checkpointTime(d Dialect, t time.Time) any {
	if d == SQLServer {
		return t.UTC()
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func upsertCheckpoint(d Dialect) string {
	if d == SQLServer {
		return `MERGE projection_checkpoint AS t USING (SELECT ? AS projector, ? AS position, ? AS updated_at) AS s
ON t.projector = s.projector
WHEN MATCHED THEN UPDATE SET position = s.position, updated_at = s.updated_at
WHEN NOT MATCHED THEN INSERT (projector, position, updated_at) VALUES (s.projector, s.position, s.updated_at);`
	}
	return `INSERT INTO projection_checkpoint (projector, position, updated_at) VALUES (?, ?, ?)
ON CONFLICT (projector) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at`
}
