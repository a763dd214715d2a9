/** The two ways a backup command fails: taking or finding a backup, and putting one back. */
import { DataplaneError } from '../errors/index.js';

export class BackupError extends DataplaneError {
  readonly code = 'BACKUP';
}

/** A restore failed part-way; the caller puts the previous data back. */
export class RestoreError extends DataplaneError {
  readonly code = 'RESTORE';
}
