-- smartcron: smartcron_v_active_alerts shows the alerts the engine opened (revision 0008):
-- every open one, most severe first, then oldest first, acknowledged or not.

DROP VIEW IF EXISTS smartcron_v_active_alerts;
CREATE VIEW smartcron_v_active_alerts AS
SELECT a.id,
       a.severity,
       a.rule,
       a.job,
       a.host,
       a.summary,
       a.instant,
       a.opened_at AS since,
       CAST((julianday('now') - julianday(a.opened_at)) * 1440 AS INTEGER) AS open_minutes,
       a.last_seen_at,
       a.repeats,
       a.acknowledged_at IS NOT NULL AS acknowledged,
       a.acknowledged_by,
       a.silenced,
       a.run_id
FROM smartcron_alerts a
WHERE a.resolved_at IS NULL
ORDER BY CASE a.severity WHEN 'critical' THEN 1 WHEN 'high' THEN 2 WHEN 'warning' THEN 3
                        WHEN 'info' THEN 4 ELSE 5 END,
         a.opened_at;
