//! The raw settings, as given: text by setting, unchecked, from the environment, the flags or a fleet
//! entry. [`super::Config::from_args`] turns them into a checked [`super::Config`] (ripgrep's
//! low/high split). Which settings exist, and their flags, come from the table in `settings`.

use std::collections::BTreeMap;

use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches};

use super::settings::{Commands, SETTINGS, Setting, Var, by_name};

/// The raw settings: the text each one was given, if any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigArgs {
    values: BTreeMap<Var, String>,
    /// What reading them has to say (an older name used), for the log.
    pub notes: Vec<String>,
}

impl ConfigArgs {
    /// The settings `lookup` (the process environment: `|k| std::env::var(k).ok()`) gives. An empty
    /// variable counts as unset: CloudFormation passes empty strings for parameters left empty.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> ConfigArgs {
        let mut args = ConfigArgs::default();
        for s in SETTINGS {
            let given = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
            if let Some(value) = given(s.name) {
                args.values.insert(s.var, value);
            } else if let Some(value) = s.alias.and_then(given) {
                args.note_alias(s, s.alias.unwrap_or_default(), "environment variable");
                args.values.insert(s.var, value);
            }
        }
        args
    }

    fn note_alias(&mut self, s: &Setting, alias: &str, what: &str) {
        self.notes.push(format!(
            "the {what} {alias} is now called {} ({alias} keeps working; rename it)",
            s.name
        ));
    }

    /// Sets one setting by its name, as a fleet entry's `settings` does; an older name works too.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let Some(s) = by_name(name) else {
            let names: Vec<&str> = SETTINGS.iter().map(|s| s.name).collect();
            return Err(format!(
                "'{}' is not a setting; the settings are {}",
                crate::error::echo(name),
                names.join(", ")
            ));
        };
        if s.name != name {
            self.note_alias(s, name, "setting");
        }
        self.values.insert(s.var, value.to_string());
        Ok(())
    }

    /// The text a setting was given, trimmed; `None` when it was not given or is blank.
    pub fn get(&self, var: Var) -> Option<&str> {
        self.values
            .get(&var)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// The text a setting was given, else its default.
    pub fn value(&self, var: Var) -> Option<&str> {
        self.get(var).or(var.setting().default)
    }

    /// Forgets a setting (a fleet entry's own fields replace some).
    pub fn unset(&mut self, var: Var) {
        self.values.remove(&var);
    }

    /// These settings with every one `flags` gives replaced: a flag wins over its variable.
    pub fn with_flags(mut self, flags: &ConfigArgs) -> ConfigArgs {
        self.values
            .extend(flags.values.iter().map(|(k, v)| (*k, v.clone())));
        self.notes.extend(flags.notes.iter().cloned());
        self
    }
}

/// The flags of the settings a command takes (`Setting::commands`); the environment variables are
/// read separately, by [`ConfigArgs::from_env`], for every command. Advanced settings are accepted
/// but not listed, so that each `--help` fits a screen (`sgsync man` lists them all); older names are
/// hidden flags.
fn augment(mut cmd: Command, takes: fn(&Commands) -> bool) -> Command {
    for s in SETTINGS.iter().filter(|s| takes(&s.commands)) {
        let flag: &'static str = Box::leak(s.flag().into_boxed_str());
        let mut arg = Arg::new(s.name)
            .long(flag)
            .value_name("VALUE")
            .help(s.brief)
            .hide(s.advanced);
        if matches!(s.var, Var::Debug | Var::Adopt) {
            // `--debug` alone means true.
            arg = arg.num_args(0..=1).default_missing_value("true");
        }
        cmd = cmd.arg(arg);
        if let Some(alias) = s.alias {
            let flag: &'static str = Box::leak(alias.to_ascii_lowercase().into_boxed_str());
            cmd = cmd.arg(Arg::new(alias).long(flag).hide(true).action(ArgAction::Set));
        }
    }
    cmd
}

/// The settings `matches` gives as flags, of those a command takes.
fn from_matches(matches: &ArgMatches, takes: fn(&Commands) -> bool) -> ConfigArgs {
    let mut args = ConfigArgs::default();
    for s in SETTINGS.iter().filter(|s| takes(&s.commands)) {
        if let Ok(Some(v)) = matches.try_get_one::<String>(s.name) {
            args.values.insert(s.var, v.clone());
        } else if let Some(alias) = s.alias
            && let Ok(Some(v)) = matches.try_get_one::<String>(alias)
        {
            args.note_alias(s, &format!("--{}", alias.to_ascii_lowercase()), "flag");
            args.values.insert(s.var, v.clone());
        }
    }
    args
}

macro_rules! command_flags {
    ($(#[$doc:meta])* $name:ident, $field:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub struct $name(pub ConfigArgs);

        impl Args for $name {
            fn augment_args(cmd: Command) -> Command {
                augment(cmd, |c| c.$field)
            }
            fn augment_args_for_update(cmd: Command) -> Command {
                Self::augment_args(cmd)
            }
        }

        impl FromArgMatches for $name {
            fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
                Ok($name(from_matches(matches, |c| c.$field)))
            }
            fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
                self.0 = self.0.clone().with_flags(&from_matches(matches, |c| c.$field));
                Ok(())
            }
        }
    };
}

command_flags!(
    /// The settings `plan` and `apply` take as flags.
    SyncFlags,
    sync
);
command_flags!(
    /// The settings `status` takes as flags.
    StatusFlags,
    status
);
command_flags!(
    /// The settings `ranges` takes as flags.
    RangesFlags,
    ranges
);
