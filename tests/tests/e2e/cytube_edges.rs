//! End to end, in process: rosey-core's CyTube connector against the emulated CyTube server of
//! `rosey_e2e::cytube`, at the edges of a session: logins CyTube holds back or refuses, channel
//! passwords, a moderator's kick, the per-IP connection limit, and a PM to nobody. What each
//! does to the connector's status, and what the bot then hears or may still do.

use rosey_abi::channel::{Action, ActionErrorKind};
use rosey_core::{
    connector::{Connector, ConnectorStatus, CytubeConnector, Outgoing},
    messaging,
};
use rosey_e2e::{
    connector::{
        bot_with_rank, event, moderated, run, settings, status_where, trouble, until, BOT, CHANNEL,
        PASSWORD,
    },
    cytube::{CytubeServer, Limits},
};
use serde_json::json;

#[test]
fn a_guest_login_held_back_by_the_per_ip_limit_is_retried_after_a_minute() {
    let server = CytubeServer::start(Limits::default());
    run(async {
        let first = CytubeConnector::start(settings(&server, "guest1", None));
        status_where(&first, |status| *status == ConnectorStatus::Connected).await;
        let second = CytubeConnector::start(settings(&server, "guest2", None));
        assert_eq!(
            trouble(&second).await,
            ConnectorStatus::Degraded(
                "CyTube delays the guest login: Guest logins are restricted to one per IP address per 60 seconds.; reconnecting in 60.0 s".into()
            )
        );
        second.close().await.expect("closed");
        first.close().await.expect("closed");
    });
}

#[test]
fn a_guest_taking_a_registered_name_stops_for_good_saying_it_needs_the_password() {
    let server = CytubeServer::start(Limits::default());
    server.add_account(BOT, PASSWORD);
    run(async {
        let connector = CytubeConnector::start(settings(&server, BOT, None));
        let reason = "CyTube refused to log in \"rosey\": That username is registered. (as a guest; a registered name needs its password in bot.cytube.password or ROSEY_CYTUBE_PASSWORD)";
        assert_eq!(
            trouble(&connector).await,
            ConnectorStatus::Failed(reason.into())
        );
        let err = connector
            .send(Outgoing::Chat { text: "hi".into() })
            .await
            .expect_err("stopped");
        assert_eq!(
            err.to_string(),
            format!("the cytube connector stopped: {reason}")
        );
        let err = connector.act(Action::Skip).await.expect_err("stopped");
        assert_eq!(
            (err.kind, err.message),
            (
                ActionErrorKind::Unavailable,
                format!("the bot is not connected to CyTube ({reason}); nothing was done")
            )
        );
    });
    assert_eq!(server.connections_total(), 1, "no retry");
}

#[test]
fn the_channel_password_is_given_when_asked_and_the_bot_joins() {
    let server = CytubeServer::start(Limits::default());
    server.add_account(BOT, PASSWORD);
    server.set_channel_password(CHANNEL, "door");
    run(async {
        let mut settings = settings(&server, BOT, Some(PASSWORD));
        settings.channel_password = Some("door".into());
        let connector = CytubeConnector::start(settings);
        until("the bot in the channel", || {
            server.present(CHANNEL, BOT).then_some(())
        })
        .await;
        assert!(server
            .received(BOT)
            .contains(&("channelPassword".to_owned(), json!("door"))));
        connector.close().await.expect("closed");
    });
}

#[test]
fn a_wrong_channel_password_stops_the_bot_naming_the_setting() {
    let server = CytubeServer::start(Limits::default());
    server.add_account(BOT, PASSWORD);
    server.set_channel_password(CHANNEL, "door");
    run(async {
        let mut settings = settings(&server, BOT, Some(PASSWORD));
        settings.channel_password = Some("window".into());
        let connector = CytubeConnector::start(settings);
        assert_eq!(
            trouble(&connector).await,
            ConnectorStatus::Failed(
                "CyTube refused the password of channel \"test\": check bot.cytube.channel_password".into()
            )
        );
    });
    assert!(!server.present(CHANNEL, BOT));
}

#[test]
fn a_channel_asking_for_a_password_the_bot_lacks_stops_it_naming_the_setting() {
    let server = CytubeServer::start(Limits::default());
    server.add_account(BOT, PASSWORD);
    server.set_channel_password(CHANNEL, "door");
    run(async {
        let connector = CytubeConnector::start(settings(&server, BOT, Some(PASSWORD)));
        assert_eq!(
            trouble(&connector).await,
            ConnectorStatus::Failed(
                "channel \"test\" needs a password: set bot.cytube.channel_password".into()
            )
        );
    });
}

#[test]
fn a_pm_to_someone_absent_is_not_resent_and_is_heard_as_a_bot_error() {
    let server = moderated(Limits::default());
    run(async {
        let (connector, mut incoming) = bot_with_rank(&server, 2.0).await;
        connector
            .send(Outgoing::Pm {
                to: "nobody".into(),
                text: "psst".into(),
            })
            .await
            .expect("queued");
        let error = event(&mut incoming, messaging::EVENT_BOT_ERROR, |_| true).await;
        assert_eq!(
            error.data,
            json!({
                "error": "PM failed: nobody isn't connected to this channel.",
                "refused": {"to": "nobody", "text": "psst"}
            })
        );
        assert_eq!(connector.pending(), 0, "a refused message is not resent");
        connector.close().await.expect("closed");
    });
}

#[test]
fn a_moderators_kick_is_waited_out_for_half_a_minute() {
    let server = moderated(Limits::default());
    server.set_rank(CHANNEL, "mod", 3);
    run(async {
        let (connector, _incoming) = bot_with_rank(&server, 2.0).await;
        server.say(CHANNEL, "mod", "/kick rosey stop spamming");
        assert_eq!(
            trouble(&connector).await,
            ConnectorStatus::Degraded(
                "kicked by CyTube: stop spamming; reconnecting in 30.0 s".into()
            )
        );
        connector.close().await.expect("closed");
    });
    assert_eq!(
        server.kicked(),
        [(BOT.to_owned(), "stop spamming".to_owned())]
    );
}

#[test]
fn a_connection_refused_by_the_per_ip_limit_is_retried_after_ten_seconds() {
    let server = CytubeServer::start(Limits {
        connect_burst: 1.0,
        ..Limits::default()
    });
    server.add_account(BOT, PASSWORD);
    server.add_account("other", PASSWORD);
    run(async {
        let first = CytubeConnector::start(settings(&server, BOT, Some(PASSWORD)));
        status_where(&first, |status| *status == ConnectorStatus::Connected).await;
        let second = CytubeConnector::start(settings(&server, "other", Some(PASSWORD)));
        assert_eq!(
            trouble(&second).await,
            ConnectorStatus::Degraded(
                "CyTube refused the connection: Rate limit exceeded; reconnecting in 10.0 s".into()
            )
        );
        second.close().await.expect("closed");
        first.close().await.expect("closed");
    });
}
