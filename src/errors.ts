// Typed errors: each says what was wrong, with which input, and how to fix it.
// The CLI prints `message` (and `hint`) on one line and exits with `exitCode`.

export class DistillError extends Error {
  readonly code: string;
  readonly hint: string;
  readonly exitCode: number;
  constructor(code: string, message: string, hint = '', exitCode = 2) {
    super(message);
    this.name = 'DistillError';
    this.code = code;
    this.hint = hint;
    this.exitCode = exitCode;
  }
  /** One line for the terminal. */
  oneLine(): string {
    return this.hint ? `${this.message} (${this.hint})` : this.message;
  }
}

/** A model file that cannot be read or is not valid ONNX. */
export class ModelFormatError extends DistillError {
  constructor(message: string, hint = 'check that the file is a complete .onnx model') {
    super('E_MODEL_FORMAT', message, hint);
    this.name = 'ModelFormatError';
  }
}

/** An external-data reference that is unsafe or missing. */
export class ExternalDataError extends DistillError {
  constructor(message: string, hint = 'keep external data files inside the model folder') {
    super('E_EXTERNAL_DATA', message, hint);
    this.name = 'ExternalDataError';
  }
}

/** A graph that our engine cannot handle: missing gradient rule, unknown shape, ... */
export class GraphError extends DistillError {
  constructor(message: string, hint = '') {
    super('E_GRAPH', message, hint);
    this.name = 'GraphError';
  }
}

/** Shapes that do not agree. */
export class ShapeError extends DistillError {
  constructor(message: string, hint = '') {
    super('E_SHAPE', message, hint);
    this.name = 'ShapeError';
  }
}

/** Bad user input: flags, data, files. */
export class UsageError extends DistillError {
  constructor(message: string, hint = '') {
    super('E_USAGE', message, hint);
    this.name = 'UsageError';
  }
}

/** Training diverged (NaN/inf loss). */
export class TrainingError extends DistillError {
  constructor(message: string, hint = '') {
    super('E_TRAINING', message, hint, 3);
    this.name = 'TrainingError';
  }
}
