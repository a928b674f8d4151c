// The webhook's answer as it goes on the wire: the review's JSON text, written field by field, with
// the patch copied in.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

describe('the answer as JSON text', () => {
  it('is the review, the patch copied in unchanged', async () => {
    const { reviewJson } = await import('../../src/server/app.js');
    const review = {
      apiVersion: 'admission.k8s.io/v1' as const,
      kind: 'AdmissionReview' as const,
      response: { uid: 'u"1', allowed: true, patchType: 'JSONPatch' as const, patch: Buffer.from('[{"op":"add"}]').toString('base64'), warnings: ['a "quoted" warning'] },
    };
    assert.deepEqual(JSON.parse(reviewJson(review)), review);
    const denied = { ...review, response: { uid: 'u2', allowed: false, status: { code: 403, reason: 'Forbidden', message: 'no' } } };
    assert.deepEqual(JSON.parse(reviewJson(denied)), denied);
    const skipped = { ...review, response: { uid: 'u3', allowed: true } };
    assert.deepEqual(JSON.parse(reviewJson(skipped)), skipped);
    const deniedWithWarnings = { ...review, response: { ...denied.response, warnings: ['w\u2028', 'x'] } };
    assert.deepEqual(JSON.parse(reviewJson(deniedWithWarnings)), deniedWithWarnings);
  });
});
