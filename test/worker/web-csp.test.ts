// The Worker's CSP for the app's documents (workers/shared/web-csp.ts): exactly the WHEP endpoint's
// origin is added to a plain connect-src 'self', taken from WHIP_INGEST_URL; a var that would
// smuggle another directive into the policy is refused; nothing but HTML documents is touched.
import { describe, expect, it } from 'vitest';
import { allowWhepConnect, readWhepOrigin } from '../../workers/shared/web-csp.ts';

const APP_POLICY =
  "default-src 'self'; script-src 'self'; media-src 'self' blob:; connect-src 'self'; object-src 'none'; frame-ancestors 'none'";

function page(policy: string, type = 'text/html; charset=utf-8'): Response {
  return new Response('<!doctype html>', {
    headers: { 'content-type': type, 'content-security-policy': policy },
  });
}

describe('readWhepOrigin', () => {
  it('is the origin of the ingest URL, port included', () => {
    expect(readWhepOrigin('https://ingest.example.com/whip')).toBe('https://ingest.example.com');
    expect(readWhepOrigin('http://127.0.0.1:8889/whip')).toBe('http://127.0.0.1:8889');
    expect(readWhepOrigin('https://INGEST.Example.com:443/whip')).toBe('https://ingest.example.com');
  });

  it('refuses what is not an http(s) URL or would end the directive and start another', () => {
    expect(readWhepOrigin(undefined)).toBeNull();
    expect(readWhepOrigin('not a url')).toBeNull();
    expect(readWhepOrigin('rtmp://ingest.example.com/live')).toBeNull();
    expect(readWhepOrigin("javascript:alert('x')")).toBeNull();
    // `;` is a legal host character for the URL parser: it would start a new directive here.
    expect(readWhepOrigin('https://evil.example;script-src-elem')).toBeNull();
    expect(readWhepOrigin('https://evil.example;script-src*/whip')).toBeNull();
  });
});

describe('allowWhepConnect', () => {
  it("adds the origin to connect-src 'self' and changes nothing else", async () => {
    const response = allowWhepConnect(page(APP_POLICY), '/somechannel', 'https://ingest.example.com');
    expect(response.headers.get('content-security-policy')).toBe(
      APP_POLICY.replace("connect-src 'self'", "connect-src 'self' https://ingest.example.com"),
    );
    expect(await response.text()).toBe('<!doctype html>');
  });

  it('also at the end of the policy', () => {
    const policy = "default-src 'self'; connect-src 'self'";
    const response = allowWhepConnect(page(policy), '/', 'http://127.0.0.1:8889');
    expect(response.headers.get('content-security-policy')).toBe(
      "default-src 'self'; connect-src 'self' http://127.0.0.1:8889",
    );
  });

  it('leaves the overlay, broader policies, other content types and an unusable origin alone', () => {
    const origin = 'https://ingest.example.com';
    const overlay = page(APP_POLICY);
    expect(allowWhepConnect(overlay, '/overlay/chat/x', origin)).toBe(overlay);
    const goLivePolicy = "default-src 'self'; connect-src 'self' https: http://localhost:*";
    const goLive = page(goLivePolicy);
    expect(
      allowWhepConnect(goLive, '/dashboard/go-live', origin).headers.get('content-security-policy'),
    ).toBe(goLivePolicy);
    const script = page(APP_POLICY, 'text/javascript');
    expect(allowWhepConnect(script, '/x.js', origin)).toBe(script);
    const plain = page(APP_POLICY);
    expect(allowWhepConnect(plain, '/somechannel', null)).toBe(plain);
  });
});
