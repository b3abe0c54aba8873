//! Scheduled backups on Status > Basics (docs/backup.md "Scheduled backups"): the next
//! run and how the last one went, a failure with its reason. The words live here, in both
//! languages.

use super::i18n::Lang;
use super::layout::{bytes, Section};
use api_types::ScheduledBackup;

struct Words {
    heading: &'static str,
    next_run: &'static str,
    off: &'static str,
    last_run: &'static str,
    never: &'static str,
    kept: &'static str,
    failed: &'static str,
    skipped: &'static str,
    pushed: &'static str,
    not_pushed: &'static str,
    scheduled: &'static str,
    manual: &'static str,
}

const EN: Words = Words {
    heading: "Scheduled backups",
    next_run: "Next backup (UTC)",
    off: "off",
    last_run: "Last backup (UTC)",
    never: "none yet",
    kept: "Kept on the appliance",
    failed: "Failed",
    skipped: "Skipped",
    pushed: "Sent to",
    not_pushed: "Not sent",
    scheduled: "scheduled",
    manual: "asked for",
};

const FR: Words = Words {
    heading: "Sauvegardes planifiées",
    next_run: "Prochaine sauvegarde (UTC)",
    off: "désactivées",
    last_run: "Dernière sauvegarde (UTC)",
    never: "aucune pour l'instant",
    kept: "Conservée sur l'appliance",
    failed: "Échec",
    skipped: "Non faite",
    pushed: "Envoyée à",
    not_pushed: "Non envoyée",
    scheduled: "planifiée",
    manual: "demandée",
};

/// The section, when backups are scheduled or have run.
pub(super) fn section(lang: Lang, s: &ScheduledBackup) -> Option<Section> {
    if !s.enabled && s.last.is_none() {
        return None;
    }
    let w = match lang {
        Lang::En => &EN,
        Lang::Fr => &FR,
    };
    let mut rows = vec![(
        w.next_run,
        s.next_run.map_or_else(|| w.off.to_string(), units::rfc3339),
    )];
    match &s.last {
        None => rows.push((w.last_run, w.never.to_string())),
        Some(run) => {
            let trigger = if run.trigger == "manual" {
                w.manual
            } else {
                w.scheduled
            };
            rows.push((
                w.last_run,
                format!("{} ({trigger})", units::rfc3339(run.at)),
            ));
            match (&run.file, &run.error) {
                _ if run.skipped.is_some() => {
                    rows.push((w.skipped, run.skipped.clone().unwrap_or_default()));
                }
                (Some(file), _) => {
                    rows.push((w.kept, format!("{file} ({})", bytes(run.size.unwrap_or(0)))));
                }
                (None, error) => rows.push((w.failed, error.clone().unwrap_or_default())),
            }
            if let Some(destination) = &run.destination {
                match (&run.push_error, run.pushed) {
                    (_, true) => rows.push((w.pushed, destination.clone())),
                    (Some(reason), false) => rows.push((w.not_pushed, reason.clone())),
                    (None, false) => {}
                }
            }
        }
    }
    Some(Section::facts("scheduled-backup", w.heading, rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use api_types::BackupRun;

    #[test]
    fn a_failed_push_is_shown_with_its_reason() {
        let s = ScheduledBackup {
            enabled: true,
            next_run: Some(1_796_608_800),
            last: Some(BackupRun {
                at: 1_796_522_400,
                trigger: "scheduled".into(),
                file: Some("appliance-x.backup".into()),
                size: Some(2048),
                destination: Some("sftp://b@h:22/d".into()),
                push_error: Some("cannot reach sftp://b@h:22/d: connection refused".into()),
                ..BackupRun::default()
            }),
        };
        for lang in [Lang::En, Lang::Fr] {
            let section = section(lang, &s).unwrap();
            let text = format!("{:?}", section.rows);
            assert!(text.contains("connection refused"), "{text}");
            assert!(text.contains("appliance-x.backup"), "{text}");
            assert!(text.contains("2026-12-07T02:00:00Z"), "{text}");
        }
        assert!(section(Lang::En, &ScheduledBackup::default()).is_none());
        let skipped = ScheduledBackup {
            enabled: true,
            next_run: Some(1_796_608_800),
            last: Some(BackupRun {
                at: 1_796_522_400,
                trigger: "scheduled".into(),
                skipped: Some("this appliance is the backup of 10.0.0.1".into()),
                ..BackupRun::default()
            }),
        };
        let text = format!("{:?}", section(Lang::En, &skipped).unwrap().rows);
        assert!(
            text.contains(r#"["Skipped", "this appliance is the backup of 10.0.0.1"]"#),
            "{text}"
        );
        assert!(!text.contains("Failed"), "{text}");
    }
}
