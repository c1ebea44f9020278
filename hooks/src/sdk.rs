//! The shared AWS SDK config and clients, each made at first use, once.
//!
//! A leaf module: the effect adapters (`aws`) and the kinds' build context (`check`)
//! both hold an [`Aws`], and it knows neither.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::Credentials;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};
use tokio::sync::OnceCell;

/// Credentials this close to their expiry are fetched again.
const CREDENTIALS_MARGIN: Duration = Duration::from_secs(5 * 60);

/// The SDK's HTTP client: hyper with rustls on ring (no default client is compiled
/// in, so nothing else is linked), made with the config, once.
fn http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// Loads the shared SDK config from the standard chain (env, profile, container, IMDS).
pub(crate) async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client())
        .load()
        .await
}

/// Loads the shared SDK config for a terminal run: the region comes from the
/// environment or the profile only, so a laptop without a region never waits on the
/// instance metadata service.
pub(crate) async fn sdk_config_local() -> SdkConfig {
    use aws_config::default_provider::credentials::DefaultCredentialsChain;
    use aws_config::environment::EnvironmentVariableRegionProvider;
    use aws_config::meta::region::RegionProviderChain;
    use aws_config::profile::ProfileFileRegionProvider;
    let region = || {
        RegionProviderChain::first_try(EnvironmentVariableRegionProvider::new())
            .or_else(ProfileFileRegionProvider::new())
    };
    // The credentials chain looks the region up too; without this it would ask IMDS.
    let http = http_client();
    let credentials = DefaultCredentialsChain::builder()
        .configure(
            aws_config::provider_config::ProviderConfig::default().with_http_client(http.clone()),
        )
        .region(region())
        .build()
        .await;
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .region(region())
        .credentials_provider(credentials)
        .load()
        .await
}

/// Where the SDK config comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chain {
    /// The standard chain (env, profile, container, IMDS): in Lambda.
    Lambda,
    /// A terminal: the region from the environment or the profile only.
    Local,
}

/// The shared SDK config and the clients made from it, each made at first use.
#[derive(Debug)]
pub(crate) struct Aws {
    chain: Chain,
    sdk: OnceCell<SdkConfig>,
    /// The last credentials the chain gave, reused until near their expiry.
    credentials: tokio::sync::Mutex<Option<Credentials>>,
    lambda: OnceLock<aws_sdk_lambda::Client>,
    cloudwatch: OnceLock<aws_sdk_cloudwatch::Client>,
    ssm: OnceLock<aws_sdk_ssm::Client>,
    sns: OnceLock<aws_sdk_sns::Client>,
}

impl Aws {
    /// Nothing loaded yet.
    pub(crate) fn new(chain: Chain) -> Arc<Self> {
        Arc::new(Self {
            chain,
            sdk: OnceCell::new(),
            credentials: tokio::sync::Mutex::new(None),
            lambda: OnceLock::new(),
            cloudwatch: OnceLock::new(),
            ssm: OnceLock::new(),
            sns: OnceLock::new(),
        })
    }

    /// The shared config, loaded at the first call.
    pub(crate) async fn sdk(&self) -> &SdkConfig {
        self.sdk
            .get_or_init(|| async {
                match self.chain {
                    Chain::Lambda => sdk_config().await,
                    Chain::Local => sdk_config_local().await,
                }
            })
            .await
    }

    /// Sets the shared config, unless it is loaded already (tests).
    #[cfg(test)]
    pub(crate) fn preload(&self, sdk: SdkConfig) {
        let _ = self.sdk.set(sdk);
    }

    /// The shared config, if something loaded it already.
    pub(crate) fn loaded(&self) -> Option<&SdkConfig> {
        self.sdk.get()
    }

    /// Credentials from the shared config's chain, reused until five minutes before
    /// they expire (the chain itself does not cache: a profile or SSO lookup per
    /// signed request would cost more than the request).
    pub(crate) async fn credentials(&self) -> Result<Credentials, String> {
        let mut cached = self.credentials.lock().await;
        let fresh = |c: &Credentials| {
            c.expiry()
                .is_none_or(|at| at > SystemTime::now() + CREDENTIALS_MARGIN)
        };
        if let Some(c) = cached.as_ref().filter(|c| fresh(c)) {
            return Ok(c.clone());
        }
        let provider = self
            .sdk()
            .await
            .credentials_provider()
            .ok_or("no AWS credentials are configured")?;
        let got = provider
            .provide_credentials()
            .await
            .map_err(|e| format!("credentials: {}", crate::error::chain(&e)))?;
        *cached = Some(got.clone());
        Ok(got)
    }

    pub(crate) async fn lambda(&self) -> &aws_sdk_lambda::Client {
        let sdk = self.sdk().await;
        self.lambda.get_or_init(|| aws_sdk_lambda::Client::new(sdk))
    }

    pub(crate) async fn cloudwatch(&self) -> &aws_sdk_cloudwatch::Client {
        let sdk = self.sdk().await;
        self.cloudwatch
            .get_or_init(|| aws_sdk_cloudwatch::Client::new(sdk))
    }

    pub(crate) async fn ssm(&self) -> &aws_sdk_ssm::Client {
        let sdk = self.sdk().await;
        self.ssm.get_or_init(|| aws_sdk_ssm::Client::new(sdk))
    }

    pub(crate) async fn sns(&self) -> &aws_sdk_sns::Client {
        let sdk = self.sdk().await;
        self.sns.get_or_init(|| aws_sdk_sns::Client::new(sdk))
    }
}
