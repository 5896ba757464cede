export interface HttpResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export interface RequestOptions {
  token?: string;
  headers?: Record<string, string>;
  /** Sent as is (no JSON encoding); set content-type in headers. */
  raw?: string | Buffer;
}

/** A small client over real HTTP (fetch), parsing JSON and problem+json bodies. */
export function httpClient(baseUrl: string) {
  async function request<T = any>(
    method: string,
    path: string,
    body?: unknown,
    options: RequestOptions = {},
  ): Promise<HttpResponse<T>> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    let payload: string | Buffer | undefined = options.raw;
    if (payload === undefined && body !== undefined) {
      payload = JSON.stringify(body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(`${baseUrl}${path}`, { method, headers, body: payload });
    const type = res.headers.get('content-type') ?? '';
    // A stream (GET /stream) never ends by itself: its status and headers are the answer; it is closed here.
    if (type.startsWith('text/event-stream')) {
      await res.body?.cancel();
      return { status: res.status, headers: res.headers, body: '' as T, text: '' };
    }
    const text = await res.text();
    const parsed = text && /json/.test(type) ? JSON.parse(text) : text;
    return { status: res.status, headers: res.headers, body: parsed as T, text };
  }
  return {
    request,
    get: <T = any>(path: string, options?: RequestOptions) => request<T>('GET', path, undefined, options),
    post: <T = any>(path: string, body?: unknown, options?: RequestOptions) => request<T>('POST', path, body, options),
    put: <T = any>(path: string, body?: unknown, options?: RequestOptions) => request<T>('PUT', path, body, options),
    patch: <T = any>(path: string, body?: unknown, options?: RequestOptions) => request<T>('PATCH', path, body, options),
    delete: <T = any>(path: string, options?: RequestOptions) => request<T>('DELETE', path, undefined, options),
  };
}

export type HttpClient = ReturnType<typeof httpClient>;

/** A task as the API returns it. */
export interface TaskBody {
  id: number;
  user_id: number;
  title: string;
  description: string | null;
  status: string;
  priority: string;
  due_at: string | null;
  created_at: string;
  updated_at: string;
  labels: string[];
}
