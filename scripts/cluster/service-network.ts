// The plane's Service network, shared by the apiserver and controller manager (which allocate
// cluster IPs from it) and the real node (whose pods route only this range to the host, where
// kube-proxy turns a cluster IP into an endpoint).

/** The Services' cluster IPs. */
export const SERVICE_CLUSTER_IP_RANGE = "10.96.0.0/16";
