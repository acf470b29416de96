import { describe, expect, it } from 'vitest';
import { serveConfig } from '../../src/cli/commands/serve.ts';
import { edgetier } from '../helpers/run-cli.ts';

describe('edgetier CLI', () => {
  it('lists its commands with --help', async () => {
    const result = await edgetier('--help');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Usage: edgetier <command> [options]');
  });

  it('refuses an unknown command with one line and exit code 2', async () => {
    const result = await edgetier('frobnicate');
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'edgetier: unknown command "frobnicate". Run `edgetier --help` for the list.\n',
    );
  });

  it('serve refuses an --allowed-host it could never match (a wildcard, a space, a path), by name', () => {
    for (const name of ['*', '*.lan', 'edge lan', 'edge.lan/x', 'user@edge.lan', 'edge..lan', '-edge.lan']) {
      expect(() => serveConfig({ 'allowed-host': [name] }), name).toThrow(
        `--allowed-host takes a host name without port or scheme (e.g. edge.lan), got "${name}". Wildcards are not supported: name each host.`,
      );
    }
    expect(
      serveConfig({
        'allowed-host': [
          'Edge.LAN',
          'edge.lan.',
          '192.168.7.9',
          '[fe80::1]',
          'xn--bcher-kva.example',
          'my_service',
        ],
      }).allowedHosts,
    ).toEqual(['edge.lan', 'edge.lan.', '192.168.7.9', '[fe80::1]', 'xn--bcher-kva.example', 'my_service']);
  });
});
