//! The direct email channel: lettre over SMTP (plain, STARTTLS or TLS).
//!
//! The pager task never waits for SMTP: it hands mails to [`Mailer`]'s
//! bounded queue with `try_send` and counts what does not fit, so a slow or
//! dead mail server costs pages, never reconciliation time.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::{mpsc, watch};

use super::Mail;
use crate::config::{EmailConfig, SmtpTls};
use crate::metrics::{Channel, Metrics, PageResult};

/// Attempts per mail, and the pause before each retry.
const RETRIES: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(3)];

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    config: EmailConfig,
}

impl Mailer {
    /// Builds the transport (the config has checked the CA certificate).
    pub fn new(config: EmailConfig) -> anyhow::Result<Mailer> {
        let tls = match config.tls {
            SmtpTls::None => Tls::None,
            mode => {
                let mut params = TlsParameters::builder(config.host.clone());
                if let Some(pem) = &config.ca_pem {
                    params =
                        params.add_root_certificate(Certificate::from_pem(pem).context("the SMTP CA certificate")?);
                }
                let params = params.build_rustls().context("building the SMTP TLS settings")?;
                if mode == SmtpTls::Tls {
                    Tls::Wrapper(params)
                } else {
                    Tls::Required(params)
                }
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.clone())
            .port(config.port)
            .timeout(Some(config.timeout))
            .tls(tls);
        if let (Some(user), Some(pass)) = (&config.username, &config.password) {
            builder = builder.credentials(Credentials::new(user.clone(), pass.expose().to_owned()));
        }
        Ok(Mailer {
            transport: builder.build(),
            config,
        })
    }

    pub fn message(&self, mail: &Mail) -> anyhow::Result<Message> {
        let mut b = Message::builder()
            .from(self.config.from.clone())
            .subject(mail.subject.clone())
            .header(ContentType::TEXT_PLAIN);
        for to in &self.config.to {
            b = b.to(to.clone());
        }
        Ok(b.body(mail.body.clone())?)
    }

    /// Sends one mail, retrying a failed delivery twice.
    pub async fn deliver(&self, mail: &Mail) -> anyhow::Result<()> {
        let message = self.message(mail)?;
        let mut last = None;
        for pause in std::iter::once(Duration::ZERO).chain(RETRIES) {
            tokio::time::sleep(pause).await;
            // lettre's timeout covers each socket operation; this bounds the
            // whole conversation, so a server that talks slowly cannot hold it.
            let attempt = tokio::time::timeout(self.config.timeout * 4, self.transport.send(message.clone()));
            match attempt.await {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, subject = %mail.subject, "Mail delivery failed.");
                    last = Some(anyhow::Error::from(e));
                }
                Err(_) => {
                    tracing::warn!(subject = %mail.subject, "Mail delivery timed out.");
                    last = Some(anyhow::anyhow!(
                        "SMTP conversation took over {:?}",
                        self.config.timeout * 4
                    ));
                }
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("no attempt made")))
    }

    /// Delivers queued mails until shutdown.
    pub async fn run(
        self,
        mut queue: mpsc::Receiver<Mail>,
        metrics: Arc<Metrics>,
        mut shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        loop {
            let mail = tokio::select! {
                biased;
                _ = shutdown.changed() => return Ok(()),
                mail = queue.recv() => match mail {
                    Some(m) => m,
                    None => return Ok(()),
                },
            };
            let result = tokio::select! {
                biased;
                _ = shutdown.changed() => return Ok(()),
                r = self.deliver(&mail) => r,
            };
            match result {
                Ok(()) => {
                    metrics.paged(Channel::Email, PageResult::Sent);
                    tracing::info!(subject = %mail.subject, "Page mailed.");
                }
                Err(e) => {
                    metrics.paged(Channel::Email, PageResult::Failed);
                    tracing::error!(error = %format!("{e:#}"), subject = %mail.subject, "Page could not be mailed.");
                }
            }
        }
    }
}
