//! SMART App Launch, app side. (The launch flow itself arrives with the SMART issue; today
//! this holds the scope grammar that the sandbox EHR and later the ABAC engine share.)

pub mod scope;
