// The errors of host commands: host, command, exit code and the end of stderr, typed so callers
// branch on the class, never on the message.

export class RemoteError extends Error {
  constructor(
    public host: string,
    public command: string,
    public code: number,
    public stderrTail: string,
    what?: string,
  ) {
    super(
      `[${host}] ${what ?? `command failed with exit code ${code}`}: ${command.length > 300 ? command.slice(0, 300) + '…' : command}${stderrTail ? `\n  stderr: ${stderrTail.split('\n').join('\n  stderr: ')}` : ''}`,
    );
    this.name = 'RemoteError';
  }
}

/** The run's abort signal fired: the command was not started, or was ended. */
export class CommandAbortedError extends RemoteError {
  constructor(
    host: string,
    command: string,
    public started: boolean,
  ) {
    super(host, command, -1, '', started ? 'command ended: the run was aborted' : 'command not started: the run was aborted');
    this.name = 'CommandAbortedError';
  }
}

/** Connecting failed in a way a retry cannot fix (unknown or changed host key). */
export class HostKeyError extends Error {
  constructor(
    public host: string,
    message: string,
  ) {
    super(message);
    this.name = 'HostKeyError';
  }
}
