/** Errors as ARM returns them: a status and a CloudError body `{"error":{"code","message","target"?,"details"?}}`. */
export class ArmError extends Error {
  readonly status: number;
  readonly code: string;
  readonly target: string | undefined;
  readonly headers: Record<string, string>;
  readonly details: { code: string; message: string }[] | undefined;

  constructor(
    status: number,
    code: string,
    message: string,
    options: {
      target?: string;
      headers?: Record<string, string>;
      details?: { code: string; message: string }[];
    } = {},
  ) {
    super(message);
    this.status = status;
    this.code = code;
    this.target = options.target;
    this.headers = options.headers ?? {};
    this.details = options.details;
  }

  body(): {
    error: { code: string; message: string; target?: string; details?: { code: string; message: string }[] };
  } {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.target ? { target: this.target } : {}),
        ...(this.details ? { details: this.details } : {}),
      },
    };
  }
}

export function resourceNotFound(type: string, name: string, resourceGroup: string): ArmError {
  return new ArmError(
    404,
    "ResourceNotFound",
    `The Resource '${type}/${name}' under resource group '${resourceGroup}' was not found.`,
  );
}

export function parentResourceNotFound(type: string, name: string): ArmError {
  return new ArmError(
    404,
    "ParentResourceNotFound",
    `Can not perform requested operation on nested resource. Parent resource '${name}' (${type}) not found.`,
  );
}

export function invalidParameter(message: string, target?: string): ArmError {
  return new ArmError(400, "InvalidParameter", message, target ? { target } : {});
}

export function conflict(message: string): ArmError {
  return new ArmError(409, "Conflict", message);
}
