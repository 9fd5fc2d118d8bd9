// An independent authorization server for chartdesk's interop test: panva/oidc-provider
// (OpenID Certified) configured as a SMART App Launch EHR, after ../../../shared/guide/
// interop-oidc-provider.md. Synthetic data only; loopback only; in-memory state.
//
//   PORT=…  APP_BASE=http://127.0.0.1:…  node server.mjs
//
// Serves: the OIDC provider at http://127.0.0.1:PORT (issuer), a FHIR base at /fhir with
// .well-known/smart-configuration and token-checked reads of Practitioner/Patient, and
// GET /launch-app?practitioner=…&patient=… which mints a launch and starts an EHR launch of
// chartdesk (302 to APP_BASE/launch?iss=…&launch=…).
import crypto from 'node:crypto';
import Provider, { errors } from 'oidc-provider';

const PORT = Number(process.env.PORT || 0);
const APP_BASE = (process.env.APP_BASE || '').replace(/\/$/, '');
if (!PORT || !APP_BASE) {
  console.error('PORT and APP_BASE are required');
  process.exit(2);
}
const ISSUER = `http://127.0.0.1:${PORT}`;
const FHIR_BASE = `${ISSUER}/fhir`;
const CLIENT_ID = 'chartdesk-interop';
const SCOPES = ['openid', 'fhirUser', 'launch', 'launch/patient', 'user/Practitioner.rs', 'user/PractitionerRole.rs',
  'user/Location.r', 'patient/Patient.r', 'patient/Encounter.rs'];

const PRACTITIONERS = {
  'ip-nurse': { resourceType: 'Practitioner', id: 'ip-nurse', name: [{ use: 'official', given: ['Iris'], family: 'Interop', text: 'Iris Interop, RN' }] },
};
const PATIENTS = {
  'ip-patient': { resourceType: 'Patient', id: 'ip-patient', name: [{ use: 'official', given: ['Otto'], family: 'Oidcprovider', text: 'Otto Oidcprovider' }], birthDate: '1960-02-02', gender: 'male' },
};

const LAUNCHES = new Map(); // launch value -> { practitioner, patient }
const GRANTS = new Map(); // grant jti -> launch context

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'interop-rs256', use: 'sig', alg: 'RS256' };

const provider = new Provider(ISSUER, {
  clients: [{
    client_id: CLIENT_ID,
    token_endpoint_auth_method: 'none',
    redirect_uris: [`${APP_BASE}/callback`],
    response_types: ['code'],
    grant_types: ['authorization_code'],
  }],
  jwks: { keys: [signingKey] },
  scopes: SCOPES,
  claims: { openid: ['sub'], fhirUser: ['fhirUser'] },
  conformIdTokenClaims: false,
  responseTypes: ['code'],
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  ttl: { AccessToken: 3600, AuthorizationCode: 60, Grant: 3600, IdToken: 3600, Interaction: 600, Session: 3600 },
  extraParams: {
    aud(ctx, value) {
      if (value !== FHIR_BASE) throw new errors.InvalidRequest(`aud must be ${FHIR_BASE}`);
    },
    launch(ctx, value) {
      if (value !== undefined && !LAUNCHES.has(value)) throw new errors.InvalidRequest('unknown launch');
    },
  },
  async findAccount(ctx, sub) {
    return { accountId: sub, async claims() { return { sub, fhirUser: `${FHIR_BASE}/Practitioner/${sub}` }; } };
  },
  // Consent is implicit (as inside an EHR): a fresh grant per authorization with every
  // requested scope this server knows, and the launch context remembered for the token.
  async loadExistingGrant(ctx) {
    const launch = LAUNCHES.get(ctx.oidc.params.launch);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope(ctx.oidc.params.scope);
    await grant.save();
    if (launch) GRANTS.set(grant.jti, launch);
    return grant;
  },
});

const json = (ctx, status, body) => { ctx.status = status; ctx.type = 'application/json'; ctx.body = body; };

provider.use(async (ctx, next) => {
  if (ctx.method === 'GET' && ctx.path === '/fhir/.well-known/smart-configuration') {
    return json(ctx, 200, {
      issuer: ISSUER,
      jwks_uri: `${ISSUER}/jwks`,
      authorization_endpoint: `${ISSUER}/auth`,
      token_endpoint: `${ISSUER}/token`,
      grant_types_supported: ['authorization_code'],
      token_endpoint_auth_methods_supported: ['none'],
      scopes_supported: SCOPES,
      response_types_supported: ['code'],
      code_challenge_methods_supported: ['S256'],
      capabilities: ['launch-ehr', 'client-public', 'sso-openid-connect', 'context-ehr-patient', 'permission-user', 'permission-patient', 'permission-v2'],
    });
  }
  if (ctx.method === 'GET' && ctx.path === '/launch-app') {
    const launch = crypto.randomBytes(24).toString('base64url');
    LAUNCHES.set(launch, { practitioner: ctx.query.practitioner || 'ip-nurse', patient: ctx.query.patient || 'ip-patient' });
    const target = new URL(`${APP_BASE}/launch`);
    target.searchParams.set('iss', FHIR_BASE);
    target.searchParams.set('launch', launch);
    return ctx.redirect(target.toString());
  }
  if (ctx.method === 'GET' && ctx.path.startsWith('/interaction/')) {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    const launch = LAUNCHES.get(details.params.launch);
    if (!launch) return json(ctx, 400, { error: 'no launch in this interaction' });
    const to = await provider.interactionResult(ctx.req, ctx.res,
      { login: { accountId: launch.practitioner }, consent: {} }, { mergeWithLastSubmission: false });
    return ctx.redirect(to);
  }
  if (ctx.path.startsWith('/fhir/')) {
    if (ctx.method !== 'GET') return json(ctx, 405, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-supported' }] });
    const auth = ctx.get('authorization') || '';
    const token = /^bearer /i.test(auth) ? auth.slice(7).trim() : '';
    const found = token ? await provider.AccessToken.find(token) : undefined;
    if (!found) return json(ctx, 401, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login' }] });
    const [, type, id] = ctx.path.slice('/fhir'.length).split('/');
    const store = type === 'Practitioner' ? PRACTITIONERS : type === 'Patient' ? PATIENTS : {};
    const resource = store[id];
    if (!resource) return json(ctx, 404, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found' }] });
    return json(ctx, 200, resource);
  }
  await next();
  // SMART launch context as top-level members of the token response.
  if (ctx.oidc?.route === 'token' && ctx.status === 200 && ctx.body?.access_token) {
    const launch = GRANTS.get(ctx.oidc.entities?.Grant?.jti);
    if (launch) {
      ctx.body.patient = launch.patient;
      ctx.body.need_patient_banner = true;
    }
  }
});

const server = provider.listen(PORT, '127.0.0.1', () => {
  console.log(`oidc-provider SMART EHR ready on ${ISSUER}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
