import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { candidateEmails, foldName, numberedAlternative, renderPrimaryEmail } from './primary-email.ts'

const person = (firstName: string, lastName: string, extra: Record<string, string> = {}) => ({
  employeeId: 'E42',
  firstName,
  lastName,
  ...extra,
})

const options = { pattern: '{first}.{last}@{domain}', domain: 'example.com', useHrWorkEmail: true, strategy: 'append_number' as const, maxAttempts: 4 }

test('when names carry accents, ligatures, apostrophes and spaces, then they fold to what Google accepts', () => {
  assert.equal(foldName('Zoë'), 'zoe')
  assert.equal(foldName('Ångström-Łukasiewicz'), 'angstrom-lukasiewicz')
  assert.equal(foldName("O'Brien"), 'obrien')
  assert.equal(foldName('Mary Ann'), 'maryann')
  assert.equal(foldName('Straße'), 'strasse')
  assert.equal(foldName('Søren Æbelø'), 'sorenaebelo')
  assert.equal(renderPrimaryEmail('{first}.{last}@{domain}', person('Zoë', 'Ångström'), 'Example.COM'), 'zoe.angstrom@example.com')
})

test('when the pattern uses initials and the employee id, then they are filled in', () => {
  assert.equal(renderPrimaryEmail('{firstInitial}{last}@{domain}', person('Jane', 'Doe'), 'example.com'), 'jdoe@example.com')
  assert.equal(renderPrimaryEmail('{first}{lastInitial}.{employeeId}@corp.example', person('Jane', 'Doe'), 'x'), 'janed.e42@corp.example')
})

test('when a name folds to nothing, then the stray separators go and an empty address is refused', () => {
  assert.equal(renderPrimaryEmail('{first}.{last}@{domain}', person('李', 'Doe'), 'example.com'), 'doe@example.com')
  assert.throws(() => renderPrimaryEmail('{first}.{last}@{domain}', person('李', '王'), 'example.com'), /no usable address/)
  assert.throws(() => renderPrimaryEmail('{nickname}@{domain}', person('Jane', 'Doe'), 'example.com'), /unknown placeholder/)
})

test('when the address is taken, then numbered alternatives keep the domain and the 64-character limit', () => {
  assert.equal(numberedAlternative('jane.doe@example.com', 2), 'jane.doe2@example.com')
  const long = `${'a'.repeat(64)}@example.com`
  assert.equal(numberedAlternative(long, 12), `${'a'.repeat(62)}12@example.com`)
  assert.deepEqual(candidateEmails(person('Jane', 'Doe'), options), {
    authoritative: false,
    emails: ['jane.doe@example.com', 'jane.doe2@example.com', 'jane.doe3@example.com', 'jane.doe4@example.com'],
  })
  assert.deepEqual(candidateEmails(person('Jane', 'Doe'), { ...options, strategy: 'fail' }).emails, ['jane.doe@example.com'])
})

test("when HR holds a work email in the domain, then it is the only, authoritative candidate; outside the domain it is ignored", () => {
  assert.deepEqual(candidateEmails(person('Jane', 'Doe', { workEmail: 'J.Doe@Example.com' }), options), {
    authoritative: true,
    emails: ['j.doe@example.com'],
  })
  assert.equal(candidateEmails(person('Jane', 'Doe', { workEmail: 'jane@other.org' }), options).authoritative, false)
  assert.equal(candidateEmails(person('Jane', 'Doe', { workEmail: 'j.doe@example.com' }), { ...options, useHrWorkEmail: false }).authoritative, false)
})

test('when any name is folded, then the local part only holds characters Google allows, without edge or doubled periods', () => {
  fc.assert(
    fc.property(fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), (first, last) => {
      let email: string
      try {
        email = renderPrimaryEmail('{first}.{last}@{domain}', person(first, last), 'example.com')
      } catch {
        return // nothing usable in either name: refused, as tested above
      }
      const local = email.slice(0, email.lastIndexOf('@'))
      assert.match(local, /^[a-z0-9_-]([a-z0-9._-]*[a-z0-9_-])?$/)
      assert.doesNotMatch(local, /\.\./)
      assert.ok(local.length <= 64)
    }),
  )
})
